#!/usr/bin/env python3
"""Token identity between diagecg's heartllm tokenizer and the authors' PyTorch module, same weights.

  check-heartllm-identity.py make-state HEARTLLM_DIR -o STATE.pt [--seed N] [--channels C] [--encoder-only]
      their FSQ_AE with seeded random weights (GroupNorm affine drawn too, so that it matters), saved as their
      training checkpoint {'model': state_dict, 'step': 0}
  check-heartllm-identity.py check HEARTLLM_DIR STATE.pt DUMP.safetensors [--ids OUT.u16] [--recon-records N]
      DUMP from `diagecg reconstruct -m DIR --save-tensors DUMP.safetensors RECORDS` with DIR converted from
      STATE.pt (`diagecg convert-tokenizer STATE.pt -o DIR`) or STATE.pt exported from DIR; runs their module on
      the same input tensor and compares token ids (exact) and reconstructions (max abs difference).

HEARTLLM_DIR is a checkout of the authors' repository (not part of this project); see tools/heartllm_module.py.
"""
import argparse
import sys
import os

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heartllm_module  # noqa: E402


def make_state(a):
    mod = heartllm_module.load(a.heartllm_dir)
    torch.manual_seed(a.seed)
    m = heartllm_module.build(mod, a.channels)
    with torch.no_grad():
        for sub in m.modules():
            if isinstance(sub, torch.nn.GroupNorm):
                sub.weight.uniform_(0.5, 1.5)
                sub.bias.uniform_(-0.5, 0.5)
    sd = m.state_dict()
    if a.encoder_only:
        sd = type(sd)((k, v) for k, v in sd.items() if k.startswith("enc."))
    torch.save({"model": sd, "step": 0}, a.output)
    n = sum(v.numel() for v in sd.values())
    print(f"wrote {a.output}: {len(sd)} tensors, {n} parameters (seed {a.seed}, {a.channels} channels per lead)")


def check(a):
    torch.set_num_threads(a.threads)
    mod = heartllm_module.load(a.heartllm_dir)
    sd = torch.load(a.state)["model"]
    channels = sd["enc.blocks.0.0.match.weight"].shape[0]
    m = heartllm_module.build(mod, channels)
    encoder_only = not any(k.startswith("dec.") for k in sd)
    if encoder_only:
        m.enc.load_state_dict({k[4:]: v for k, v in sd.items()}, strict=True)
    else:
        m.load_state_dict(sd, strict=True)
    m.eval()
    d = heartllm_module.read_safetensors(a.dump)
    x = torch.from_numpy(d["input"].copy())
    ours_ids = torch.from_numpy(d["codes"].copy())
    ours_latent = torch.from_numpy(d["latent"].copy())
    ours_rec = torch.from_numpy(d["reconstruction"].copy())
    ids, lat, recs = [], [], []
    with torch.no_grad():
        for b in range(0, x.shape[0], a.batch):
            sig = x[b:b + a.batch]
            z = m.enc(sig)
            _, disc = m.quant(z)
            ids.append(heartllm_module.q2idx(disc, m.levels, z.shape[-1]))
            lat.append(z)
            if not encoder_only:
                rec, _, _ = m(sig)
                recs.append(rec)
    ids, lat = torch.cat(ids), torch.cat(lat)
    same = (ids == ours_ids).all(dim=1)
    n_tok_diff = int((ids != ours_ids).sum())
    print(f"records {x.shape[0]}: token ids identical on {int(same.sum())}/{x.shape[0]} records "
          f"({n_tok_diff} of {ids.numel()} tokens differ)")
    print(f"latent max |theirs - ours| {float((lat - ours_latent).abs().max()):.3g}")
    # How close their latents come to a rounding boundary (sigmoid(z) * (n-1) = k + 0.5): the margin identity has.
    c = torch.sigmoid(lat.double()) * (m.levels - 1)
    margin = float(((c - c.floor()) - 0.5).abs().min())
    print(f"smallest distance of sigmoid(z)*(n-1) to a rounding boundary: {margin:.3g}")
    recs = torch.cat(recs) if recs else None
    if recs is not None:
        print(f"reconstruction max |theirs - ours| {float((recs - ours_rec).abs().max()):.3g} "
              f"(max |theirs| {float(recs.abs().max()):.3g})")
    if a.ids:
        ids.to(torch.int32).numpy().astype("<u2").tofile(a.ids)
        print(f"wrote {a.ids}: their ids, [{ids.shape[0]}, {ids.shape[1]}] u16 little-endian")
    if a.recon and recs is not None:
        recs[: a.recon_records].numpy().astype("<f4").tofile(a.recon)
        print(f"wrote {a.recon}: their reconstructions of the first {a.recon_records} records, f32 little-endian")
    if not bool(same.all()):
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("make-state")
    s.add_argument("heartllm_dir")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--channels", type=int, default=32)
    s.add_argument("--encoder-only", action="store_true")
    c = sub.add_parser("check")
    c.add_argument("heartllm_dir")
    c.add_argument("state")
    c.add_argument("dump")
    c.add_argument("--batch", type=int, default=16)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--ids", help="write their token ids here (u16)")
    c.add_argument("--recon", help="write their reconstructions of the first --recon-records records here (f32)")
    c.add_argument("--recon-records", type=int, default=1)
    a = p.parse_args()
    make_state(a) if a.cmd == "make-state" else check(a)


if __name__ == "__main__":
    main()
