#!/usr/bin/python3
"""Writes synthetic product titles for the ten Fashion-MNIST classes as JSONL ({"text", "label"}), for the text
half of the cross-modal demo (a product photo and its title). No product-title dataset ships in Debian or npm, so
the titles are generated from templates: colours, materials, styles, brands-like adjectives and each class's own
nouns, with deterministic randomness (--seed). The point is a text classifier whose labels match the image
classifier's, not a benchmark.

usage: make_fashion_titles.py OUT.jsonl [--n 6000] [--seed 7]"""
import json
import random
import sys

LABELS = {
    "T-shirt/top": ["t-shirt", "tee", "tank top", "crop top", "v-neck tee", "graphic tee"],
    "Trouser": ["trousers", "jeans", "chinos", "pants", "joggers", "slacks"],
    "Pullover": ["pullover", "sweater", "jumper", "hoodie", "knit sweater", "sweatshirt"],
    "Dress": ["dress", "maxi dress", "sundress", "evening gown", "wrap dress", "midi dress"],
    "Coat": ["coat", "parka", "trench coat", "overcoat", "puffer jacket", "raincoat"],
    "Sandal": ["sandals", "flip-flops", "slides", "strappy sandals", "espadrilles", "gladiator sandals"],
    "Shirt": ["shirt", "blouse", "button-down shirt", "oxford shirt", "flannel shirt", "dress shirt"],
    "Sneaker": ["sneakers", "trainers", "running shoes", "canvas shoes", "high-tops", "tennis shoes"],
    "Bag": ["bag", "handbag", "backpack", "tote", "crossbody bag", "clutch"],
    "Ankle boot": ["ankle boots", "chelsea boots", "booties", "combat boots", "suede boots", "lace-up boots"],
}
COLOURS = ["black", "white", "navy", "red", "olive", "beige", "grey", "pink", "blue", "brown", "green", "cream"]
MATERIALS = ["cotton", "linen", "wool", "denim", "leather", "suede", "polyester", "silk", "canvas", "knit"]
STYLES = ["classic", "slim fit", "oversized", "vintage", "casual", "everyday", "premium", "lightweight", "summer",
          "winter", "unisex", "women's", "men's", "kids'"]
EXTRAS = ["", "", "", "- new season", "with pockets", "size M", "size 42", "organic", "limited edition", "sale"]


def title(rng, noun):
    parts = [rng.choice(STYLES) if rng.random() < 0.6 else "", rng.choice(COLOURS) if rng.random() < 0.8 else "",
             rng.choice(MATERIALS) if rng.random() < 0.5 else "", noun, rng.choice(EXTRAS)]
    return " ".join(p for p in parts if p).strip()


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out, n, seed = args[0], 6000, 7
    if "--n" in args:
        n = int(args[args.index("--n") + 1])
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    rng = random.Random(seed)
    labels = list(LABELS)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            label = labels[i % len(labels)]
            f.write(json.dumps({"text": title(rng, rng.choice(LABELS[label])), "label": label}) + "\n")


if __name__ == "__main__":
    main()
