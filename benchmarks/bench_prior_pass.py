"""A DreamBooth step with prior preservation: instance and class examples in one UNet pass
against two passes (the trainer's layout before session 12), in one process.

Both arms run the embedded base's UNet (full DreamBooth: every parameter trains) on the same
batch shapes, batch size ``--batch`` per half, AdamW and gradient clipping as the trainer does;
the arms alternate over ``--repeats`` and the median step time of each is compared (the first
steps of each repeat are warm-up and dropped).

    OMP_NUM_THREADS=2 python benchmarks/bench_prior_pass.py [--batch 4 --steps 20 --repeats 3]

Last line: RATIO <two passes / one pass step time>.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from hf_fair.diffusion.base import load_base


def step_seconds(unet, params, optimizer, batch: int, one_pass: bool, steps: int, warmup: int = 2) -> list[float]:
    c, s = unet.config.in_channels, unet.config.sample_size
    emb = torch.randn(1, 77, unet.config.cross_attention_dim)

    def halves(n_pass: int):
        x = torch.randn(n_pass, c, s, s)
        pred = unet(x, torch.randint(0, 1000, (n_pass,)), emb.expand(n_pass, -1, -1)).sample
        return pred, x

    out = []
    for i in range(steps + warmup):
        start = time.perf_counter()
        if one_pass:
            pred, target = halves(2 * batch)
            loss = F.mse_loss(pred[:batch], target[:batch]) + F.mse_loss(pred[batch:], target[batch:])
        else:
            loss = sum(F.mse_loss(*halves(batch)) for _ in range(2))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if i >= warmup:
            out.append(time.perf_counter() - start)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    unet = load_base("embedded").unet.float().train()
    params = [q for q in unet.parameters()]
    for q in params:
        q.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    print(f"embedded UNet: {sum(q.numel() for q in params) / 1e6:.2f}M parameters, latents {unet.config.sample_size} px, "
          f"{torch.get_num_threads()} threads, batch {a.batch} + {a.batch}")
    times = {"two passes": [], "one pass": []}
    for r in range(a.repeats):
        for name in times:
            got = step_seconds(unet, params, optimizer, a.batch, name == "one pass", a.steps)
            times[name] += got
            print(f"repeat {r}: {name} median {1000 * statistics.median(got):.1f} ms/step")
    two, one = (statistics.median(times[k]) for k in ("two passes", "one pass"))
    print(f"two passes {1000 * two:.1f} ms/step, one pass {1000 * one:.1f} ms/step")
    print(f"RATIO {two / one:.2f}")


if __name__ == "__main__":
    main()
