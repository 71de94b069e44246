#include "builtin.h"

#include "../broker/core/convert.h"
#include "audio/audio_engines.h"
#include "vision/cnn_labels.h"
#include "vision/preprocess.h"

const jn_builtin_engine jn_builtin_engines[] = {
    {"identity", jn_identity_create, "input FP32[-1,-1] -> output, the same buffer (zero-copy)"},
    {"burn", jn_burn_create,
     "input FP32[-1,-1] -> output (identity) after burning CPU or sleeping; parameters burn_ms, burn_mode"},
    {"tokenize", jn_tokenize_create,
     "text TEXT BYTES[-1] -> tokens TEXT BYTES[-1]; streams one token per message"},
    {"spam-text", jn_spam_text_create,
     "text TEXT BYTES[-1] -> scores CLASSIFICATION FP32[-1,2] (ham, spam); SpamAssassin-trained linear model"},
    {"embed", jn_embed_create, "text TEXT BYTES[-1] -> embedding EMBEDDING FP32[-1,256], L2-normalized"},
    {"similarity", jn_similarity_create, "a, b TEXT BYTES[-1] -> cosine FP32[-1] of their embed vectors"},
    {"image-preprocess", jn_preprocess_create,
     "image IMAGE BYTES[-1] (PNG/JPEG) -> tensor IMAGE_TENSOR FP32[-1,3,256,256]: antialiased bilinear resize, "
     "center crop, ImageNet mean/std"},
    {"fashion-cnn", jn_fashion_cnn_create,
     "image IMAGE BYTES[-1] (PNG/JPEG, any size; item light on black, as Fashion-MNIST) -> scores "
     "CLASSIFICATION FP32[-1,10]: CNN trained on Fashion-MNIST"},
    {"fashion-text", jn_fashion_text_create,
     "title TEXT -> scores CLASSIFICATION FP32[-1,10] over the Fashion-MNIST categories (synthetic-title model)"},
    {"fashion-fusion", jn_fashion_fusion_create,
     "a, b CLASSIFICATION FP32[-1,10] over the Fashion-MNIST categories -> their weighted average"},
    {"audio-decode", jn_audio_decode_create,
     "audio AUDIO BYTES[-1] (WAV/FLAC/Ogg/MP3) -> samples AUDIO_TENSOR FP32[-1,-1,-1] [N, channels, samples]; "
     "parameters sample_rate (16000; libsoxr HQ), channels (1 = down-mix)"},
    {"log-mel", jn_logmel_create,
     "samples AUDIO_TENSOR FP32[-1,-1] (16 kHz mono; AUDIO accepted) -> mel FP32[-1,n_mels,frames]: ln HTK-mel "
     "power spectrogram (FFTW3); parameters n_fft, hop, n_mels, fmin, fmax, power, log_floor, window"},
    {"prompt-template", jn_prompt_template_create,
     "TEXT, CLASSIFICATION and scalar inputs and parameters -> text TEXT BYTES[-1] (and messages: the same as a chat "
     "message list) through the parameter 'template' "
     "(\"... {{name}} {{x.label}} ({{x.score}}) ...\"); as a pipeline step its inputs are the step's bound inputs"},
    {NULL, NULL, NULL},
};

int jn_builtin_register_all(jn_registry *reg, const jn_builtin_options *opt, jn_err *err)
{
    /* Conversions jn_core cannot implement itself (it does not link the codecs); idempotent. */
    if (jn_convert_register(&jn_decode_image_conversion))
        return jn_err_set(err, JN_ERESOURCE, "the conversion table is full");
    int rc0 = jn_audio_register(err);
    if (rc0)
        return rc0;
    for (const jn_builtin_engine *b = jn_builtin_engines; b->name; b++) {
        jn_engine *e = b->create(b->name, opt, err);
        if (!e)
            return err->code;
        int rc = jn_registry_add(reg, e, err);
        if (rc)
            return rc;
    }
    return 0;
}

jn_engine *jn_fashion_fusion_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    return jn_fusion_create_for(name, jn_fashion_labels, JN_FASHION_N_LABELS, err);
}
