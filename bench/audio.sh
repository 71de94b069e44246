#!/usr/bin/env bash
# Audio benchmark (issue #17), side by side in one run, both sides in-process (no process start-up in the figures):
#   decode  10 s of 44.1 kHz stereo 16-bit WAV (espeak-ng speech, made by sox) -> 16 kHz mono float:
#           junction's jn_audio_decode (libsndfile from memory, down-mix, libsoxr HQ; bench_audio) vs
#           scipy.io.wavfile + numpy down-mix + scipy.signal.resample_poly (audio_py.py). Target >= 3x.
#   logmel  log-mel of those 10 s at 16 kHz (n_fft 400, hop 160, 80 mels, Hann, HTK): jn_logmel (FFTW3) vs the
#           numpy implementation of the same definition (tests/e2e/audio_ref.py). Target >= 3x.
# Each figure is the median time of one call over BENCH_SECONDS of calls after a warm-up; rounds alternate the sides
# and the table shows the median over the rounds. The stateful per-chunk row belongs to wip/sequence (issue #17
# item 4). Not a test (not registered with CTest). See bench/README.md, section "Audio".
#
# Environment (defaults in brackets):
#   BUILD_DIR       CMake build dir (Release, -DJUNCTION_BENCH=ON)     [<repo>/build-bench]
#   BENCH_BUILD     1 = configure if needed and (re)build bench_audio  [1]
#   BENCH_SECONDS   measured seconds per figure and round              [2]
#   BENCH_ROUNDS    rounds                                             [3]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_SECONDS=${BENCH_SECONDS:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_tmpdir junction-abench

command -v espeak-ng >/dev/null || die "espeak-ng not found (scripts/install-deps.sh)"
command -v sox >/dev/null || die "sox not found (scripts/install-deps.sh)"
"$PY" -c 'import numpy, scipy' 2>/dev/null || die "python3-numpy and python3-scipy are needed (scripts/install-deps.sh)"
if [ "$BENCH_BUILD" = 1 ]; then
    log "building bench_audio in $BUILD_DIR (Release)"
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJUNCTION_BENCH=ON >"$TMP/cmake.log" 2>&1 ||
            { tail -n 20 "$TMP/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j2 --target bench_audio >>"$TMP/cmake.log" 2>&1 ||
        { tail -n 20 "$TMP/cmake.log" >&2; die "cannot build bench_audio"; }
fi
BENCH=$BUILD_DIR/bench/bench_audio
[ -x "$BENCH" ] || die "$BENCH not found (configure with -DJUNCTION_BENCH=ON)"

espeak-ng -w "$TMP/speech.wav" "Junction serves models over one gRPC port. Audio arrives as WAV, FLAC, Ogg or MP3 \
and leaves as samples at the rate the model wants, or as a log mel spectrogram computed with FFTW."
sox "$TMP/speech.wav" -r 44100 -c 2 -b 16 "$TMP/speech10.wav" repeat 5 trim 0 10
log "input: $(soxi -D "$TMP/speech10.wav") s, $(soxi -r "$TMP/speech10.wav") Hz, $(soxi -c "$TMP/speech10.wav") channels"

for r in $(seq 1 "$BENCH_ROUNDS"); do
    "$BENCH" "$TMP/speech10.wav" "$BENCH_SECONDS" | sed "s/^/c $r /" >>"$TMP/results.txt"
    "$PY" "$HERE/audio_py.py" "$TMP/speech10.wav" "$BENCH_SECONDS" | sed "s/^/py $r /" >>"$TMP/results.txt"
done

"$PY" - "$TMP/results.txt" <<'PYEOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda side, name, col: statistics.median(float(r[col]) for r in rows if r[0] == side and r[2] == name)
print("| figure (10 s of audio) | junction (C) ms | numpy + scipy ms | speed-up | CPU ms per call C / py | target |")
print("|---|---:|---:|---:|---:|---|")
for name, what in (("decode", "decode 44.1 kHz stereo WAV + resample to 16 kHz mono"),
                   ("logmel", "log-mel 80 x 998 frames (n_fft 400, hop 160)")):
    c, p = med("c", name, 3), med("py", name, 3)
    print("| %s | %.2f | %.2f | %.1fx | %.2f / %.2f | >= 3x |" % (what, c, p, p / c, med("c", name, 5),
                                                                 med("py", name, 5)))
PYEOF
echo "uptime: $(uptime)"
