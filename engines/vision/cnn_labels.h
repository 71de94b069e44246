/* cnn_labels.h — Fashion-MNIST's class names, in label order (shared by the trainer and the fashion-cnn engine). */
#ifndef JN_VISION_CNN_LABELS_H
#define JN_VISION_CNN_LABELS_H

#define JN_FASHION_N_LABELS 10

static const char *const jn_fashion_labels[JN_FASHION_N_LABELS] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

#endif
