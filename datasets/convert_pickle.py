#!/usr/bin/env python3
"""Convert the ERC feature pickles the field distributes into an erc dataset directory.

Needs only Python 3 and numpy. The result opens with `erc info DIR` and trains with
`erc train --dataset DIR`. Layout of the output: see docs/dataset-format.md.

Formats (`--format`):

  iemocap   DialogueRNN/MMGCN `IEMOCAP_features.pkl`: a 9-tuple
            (ids, speakers, labels, text 100, audio 1582, visual 342, sentences, trainVid, testVid)
  meld      MMGCN `MELD_features_raw1.pkl`: a 10-tuple
            (ids, speakers as 9-slot one-hots, labels, text 600, audio 300, visual 342,
             sentences, trainVid, testVid, <unused>)
  cosmic    COSMIC `iemocap_features_roberta.pkl` (10 items: speakers, labels, roberta1-4,
            sentences, trainIds, testIds, validIds) or `meld_features_roberta.pkl` (11 items:
            speakers, emotion labels, sentiment labels, roberta1-4, sentences, trainIds,
            testIds, validIds). Note the train, TEST, valid order. Text = mean of the 4 layers
            (1024-d), as MALN uses it; `--roberta-layers last` keeps roberta1 only.
  multiemo  MultiEMO's directory: Speakers.pkl (the iemocap 9-tuple or meld 10-tuple layout;
            elements 1, 2, 7, 8 are read) plus TextFeatures.pkl, AudioFeatures.pkl,
            VisualFeatures.pkl (dicts from dialogue id to an [n_utt, dim] array).

Pickles without a validation split (iemocap, meld, multiemo) get one: the training ids, in
sorted order, are shuffled with numpy.random.default_rng(--seed) and the first
round(--valid-share * n) (at least 1) become `valid`. The share and seed are recorded in the
manifest's `source`.

Dialogues are stored train, then valid, then test; within a split in the pickle's id order
(sorted when the pickle stores a set, as the references iterate it sorted or in dict order).
"""

import argparse
import json
import os
import pickle
import shutil
import sys

import numpy as np

IEMOCAP_CLASSES = ["hap", "sad", "neu", "ang", "exc", "fru"]
MELD_CLASSES = ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]
FORMAT_NAME = "erc-dataset"
FORMAT_VERSION = 1


class ConvertError(Exception):
    """A readable conversion failure."""


def load_pickle_items(path):
    """Loads a pickle: one tuple/list object, or several objects pickled one after another."""
    if not os.path.isfile(path):
        raise ConvertError(f"{path} does not exist")
    items = []
    with open(path, "rb") as f:
        while True:
            try:
                items.append(pickle.load(f, encoding="latin1"))
            except EOFError:
                break
            except Exception as e:  # corrupt or foreign pickle
                raise ConvertError(f"{path}: cannot unpickle: {e}") from e
    if len(items) == 1 and isinstance(items[0], (tuple, list)):
        return list(items[0])
    return items


def ordered_ids(ids):
    """The ids of a split in a stable order: as stored, sorted if a set."""
    if isinstance(ids, (set, frozenset)):
        return sorted(ids)
    return list(ids)


def hold_out_valid(train_ids, share, seed):
    if not 0.0 <= share < 1.0:
        raise ConvertError(f"--valid-share {share} is not in [0, 1)")
    if len(train_ids) < 2:
        raise ConvertError("cannot hold out a validation split from fewer than 2 training dialogues")
    ordered = sorted(train_ids)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(ordered))
    count = min(max(int(round(len(ordered) * share)), 1), len(ordered) - 1)
    valid = set(ordered[i] for i in perm[:count])
    return [v for v in train_ids if v not in valid], [v for v in train_ids if v in valid]


def as_matrix(value, what, vid, n):
    m = np.asarray(value, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != n:
        raise ConvertError(f"{what} of dialogue {vid!r} has shape {m.shape}, expected ({n}, dim)")
    if not np.all(np.isfinite(m)):
        raise ConvertError(f"{what} of dialogue {vid!r} has NaN or infinite values")
    return m.astype("<f4")


def speaker_index_iemocap(s):
    """IEMOCAP: 'M' -> 0, anything else -> 1 (the references' rule)."""
    return 0 if s == "M" else 1


def speaker_index_onehot(v, vid):
    v = np.asarray(v)
    if v.ndim != 1 or v.sum() != 1:
        raise ConvertError(f"speaker of dialogue {vid!r} is not a one-hot vector: {v.tolist()}")
    return int(np.argmax(v))


class Collected:
    """Dialogues gathered from a pickle, ready to write."""

    def __init__(self, name, classes, speakers, modalities):
        self.name, self.classes, self.speakers, self.modalities = name, classes, speakers, modalities
        self.ids, self.splits, self.speaker_ids, self.labels, self.texts = [], {}, [], [], []
        self.features = {m: [] for m in modalities}
        self.offsets = [0]
        self.has_text = True

    def add(self, vid, split, speakers, labels, feats, texts):
        n = len(labels)
        if n == 0:
            raise ConvertError(f"dialogue {vid!r} has no utterance")
        if len(speakers) != n:
            raise ConvertError(f"dialogue {vid!r}: {len(speakers)} speakers but {n} labels")
        for y in labels:
            if not (0 <= int(y) < len(self.classes)):
                raise ConvertError(f"dialogue {vid!r}: label {y} outside 0..{len(self.classes)}")
        for m in self.modalities:
            mat = feats[m]
            if self.modalities[m] is None:
                self.modalities[m] = mat.shape[1]
            elif mat.shape[1] != self.modalities[m]:
                raise ConvertError(f"{m} features of dialogue {vid!r} have dim {mat.shape[1]}, others {self.modalities[m]}")
            self.features[m].append(mat)
        if texts is None or len(texts) != n:
            self.has_text = False
        else:
            self.texts.extend(str(t) for t in texts)
        self.splits.setdefault(split, []).append(len(self.ids))
        self.ids.append(str(vid))
        self.speaker_ids.extend(int(s) for s in speakers)
        self.labels.extend(int(y) for y in labels)
        self.offsets.append(self.offsets[-1] + n)

    def write(self, out, source):
        if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
            raise ConvertError(f"{out} already exists and is not empty; choose another path or remove it first")
        parent = os.path.dirname(os.path.abspath(out))
        os.makedirs(parent, exist_ok=True)
        staging = os.path.join(parent, "." + os.path.basename(os.path.abspath(out)) + f".partial-{os.getpid()}")
        if os.path.exists(staging):
            shutil.rmtree(staging)
        os.makedirs(os.path.join(staging, "features"))
        try:
            np.save(os.path.join(staging, "offsets.npy"), np.asarray(self.offsets, dtype="<i8"))
            np.save(os.path.join(staging, "speakers.npy"), np.asarray(self.speaker_ids, dtype="<i8"))
            np.save(os.path.join(staging, "labels.npy"), np.asarray(self.labels, dtype="<i8"))
            entries = []
            for m, dim in self.modalities.items():
                mat = np.ascontiguousarray(np.concatenate(self.features[m], axis=0), dtype="<f4")
                np.save(os.path.join(staging, "features", f"{m}.npy"), mat)
                entries.append({"name": m, "dim": int(dim), "file": f"features/{m}.npy"})
            if self.has_text:
                with open(os.path.join(staging, "text.jsonl"), "w", encoding="utf-8") as f:
                    for t in self.texts:
                        f.write(json.dumps(t, ensure_ascii=False) + "\n")
            manifest = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "name": self.name,
                "source": source,
                "classes": self.classes,
                "modalities": entries,
                "speakers": self.speakers,
                "dialogue_ids": self.ids,
                "num_utterances": len(self.labels),
                "splits": self.splits,
                "has_text": self.has_text,
            }
            with open(os.path.join(staging, "manifest.json"), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=2)
                f.write("\n")
            if os.path.isdir(out):
                os.rmdir(out)
            os.rename(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def split_plan(train, valid, test, args):
    note = ""
    if valid is None:
        train, valid = hold_out_valid(train, args.valid_share, args.seed)
        note = f"; valid = {len(valid)} training dialogues held out (share {args.valid_share}, seed {args.seed})"
    return [("train", train), ("valid", valid), ("test", test)], note


def convert_dialoguernn(path, args, meld):
    items = load_pickle_items(path)
    want = 10 if meld else 9
    if len(items) < 9 or (meld and len(items) != want) or (not meld and len(items) != want):
        raise ConvertError(f"{path}: expected a {want}-item pickle, found {len(items)} items")
    _ids, speakers, labels, text, audio, visual, sentences, train, test = items[:9]
    classes = MELD_CLASSES if meld else IEMOCAP_CLASSES
    spk_names = [f"speaker{i}" for i in range(9)] if meld else ["M", "F"]
    out = Collected(args.name or ("meld" if meld else "iemocap"), classes, spk_names,
                    {"text": None, "audio": None, "visual": None})
    plan, note = split_plan(ordered_ids(train), None, ordered_ids(test), args)
    for split, vids in plan:
        for vid in vids:
            n = len(labels[vid])
            spk = [speaker_index_onehot(s, vid) for s in speakers[vid]] if meld else [speaker_index_iemocap(s) for s in speakers[vid]]
            feats = {"text": as_matrix(text[vid], "text", vid, n), "audio": as_matrix(audio[vid], "audio", vid, n),
                     "visual": as_matrix(visual[vid], "visual", vid, n)}
            out.add(vid, split, spk, labels[vid], feats, sentences.get(vid) if isinstance(sentences, dict) else None)
    return out, f"converted from {os.path.basename(path)} ({'meld' if meld else 'iemocap'} layout){note}"


def convert_cosmic(path, args):
    items = load_pickle_items(path)
    if len(items) == 10:
        speakers, labels, r1, r2, r3, r4, sentences, train, test, valid = items
        meld = False
    elif len(items) == 11:
        speakers, labels, _sentiment, r1, r2, r3, r4, sentences, train, test, valid = items
        meld = True
    else:
        raise ConvertError(f"{path}: expected COSMIC's 10-item (IEMOCAP) or 11-item (MELD) pickle, found {len(items)} items")
    classes = MELD_CLASSES if meld else IEMOCAP_CLASSES
    first = next(iter(speakers.values()))
    onehot = not isinstance(first[0], str)
    spk_names = [f"speaker{i}" for i in range(len(first[0]))] if onehot else ["M", "F"]
    out = Collected(args.name or ("meld-roberta" if meld else "iemocap-roberta"), classes, spk_names, {"text": None})
    plan = [("train", ordered_ids(train)), ("valid", ordered_ids(valid)), ("test", ordered_ids(test))]
    for split, vids in plan:
        for vid in vids:
            n = len(labels[vid])
            layers = [as_matrix(r[vid], "roberta", vid, n) for r in (r1, r2, r3, r4)]
            text = layers[0] if args.roberta_layers == "last" else (sum(l.astype(np.float64) for l in layers) / 4.0).astype("<f4")
            spk = [speaker_index_onehot(s, vid) for s in speakers[vid]] if onehot else [speaker_index_iemocap(s) for s in speakers[vid]]
            out.add(vid, split, spk, labels[vid], {"text": text}, sentences.get(vid) if isinstance(sentences, dict) else None)
    return out, f"converted from {os.path.basename(path)} (COSMIC layout, text = {args.roberta_layers} of RoBERTa layers)"


def convert_multiemo(directory, args):
    items = load_pickle_items(os.path.join(directory, "Speakers.pkl"))
    if len(items) not in (9, 10):
        raise ConvertError(f"{directory}/Speakers.pkl: expected a 9- or 10-item pickle, found {len(items)}")
    meld = len(items) == 10
    speakers, labels, train, test = items[1], items[2], items[7], items[8]
    feats = {}
    for m, fname in (("text", "TextFeatures.pkl"), ("audio", "AudioFeatures.pkl"), ("visual", "VisualFeatures.pkl")):
        loaded = load_pickle_items(os.path.join(directory, fname))
        if len(loaded) != 1 or not isinstance(loaded[0], dict):
            raise ConvertError(f"{directory}/{fname}: expected one dict from dialogue id to features")
        feats[m] = loaded[0]
    classes = MELD_CLASSES if meld else IEMOCAP_CLASSES
    spk_names = [f"speaker{i}" for i in range(9)] if meld else ["M", "F"]
    out = Collected(args.name or ("meld-multiemo" if meld else "iemocap-multiemo"), classes, spk_names,
                    {"text": None, "audio": None, "visual": None})
    train_ids = ordered_ids(train) if meld else sorted(train)
    test_ids = ordered_ids(test) if meld else sorted(test)
    plan, note = split_plan(train_ids, None, test_ids, args)
    for split, vids in plan:
        for vid in vids:
            n = len(labels[vid])
            spk = [speaker_index_onehot(s, vid) for s in speakers[vid]] if meld else [speaker_index_iemocap(s) for s in speakers[vid]]
            out.add(vid, split, spk, labels[vid], {m: as_matrix(feats[m][vid], m, vid, n) for m in feats}, None)
    return out, f"converted from MultiEMO features in {directory}{note}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", required=True, choices=["iemocap", "meld", "cosmic", "multiemo"])
    p.add_argument("--input", required=True, help="the pickle (a directory for multiemo)")
    p.add_argument("--out", required=True, help="output dataset directory (must not exist or be empty)")
    p.add_argument("--name", help="dataset name (default: from the format)")
    p.add_argument("--valid-share", type=float, default=0.1, help="share of training dialogues held out when there is no validation split")
    p.add_argument("--seed", type=int, default=0, help="seed of that hold-out")
    p.add_argument("--roberta-layers", choices=["mean", "last"], default="mean", help="cosmic: text = mean of 4 layers or the last")
    args = p.parse_args(argv)
    try:
        if args.format in ("iemocap", "meld"):
            out, source = convert_dialoguernn(args.input, args, meld=args.format == "meld")
        elif args.format == "cosmic":
            out, source = convert_cosmic(args.input, args)
        else:
            out, source = convert_multiemo(args.input, args)
        out.write(args.out, source)
    except (ConvertError, KeyError) as e:
        msg = f"missing dialogue id {e}" if isinstance(e, KeyError) else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 1
    print(f"wrote {len(out.ids)} dialogues / {len(out.labels)} utterances to {args.out} ({source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
