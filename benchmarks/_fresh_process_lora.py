"""Reference for ``bench_adapters.py``: one single-subject DreamBooth-style LoRA run, in its own process.

Written for hf-fair (not copied from diffusers); it follows what diffusers'
``examples/dreambooth/train_dreambooth_lora.py`` does per run *without* its caching flags:

* load the pipeline's parts from disk (``StableDiffusionPipeline.from_pretrained``);
* add one peft LoRA to the UNet (``LoraConfig(r, lora_alpha, init_lora_weights="gaussian",
  target_modules)``), AdamW on the LoRA parameters only;
* a dataset that opens each instance image from ``--instance_dir`` and tokenizes the prompt in
  ``__getitem__`` (resize, center crop, normalise to [-1, 1]); a shuffled DataLoader;
* every step: VAE-encode the batch (``latent_dist.sample()``), text-encode the batch's prompts,
  DDPM noise + timestep, UNet forward/backward, gradient clipping, optimizer step;
* save the LoRA in diffusers' format (``save_lora_weights``).

It leaves out what the real script adds on top (accelerate, trackers, checkpoints, validation,
model card), so its cost is a lower bound on the real script's.

    python benchmarks/_fresh_process_lora.py --base hf_fair/assets/tiny-sd --instance_dir DIR \
        --prompt "a green handwritten digit, small" --output_dir OUT [--steps 50]

Prints one JSON line: seconds spent importing, loading the base, training (of which VAE encode,
text encode and UNet step) and saving, peak memory (RSS; CUDA allocated on a GPU) and the mean
loss of the last 20 steps. Runs on CUDA when there is one.
"""

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from diffusers import DDPMScheduler, StableDiffusionPipeline  # noqa: E402
from diffusers.utils import convert_state_dict_to_diffusers  # noqa: E402
from peft import LoraConfig  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision import transforms  # noqa: E402

T_IMPORTED = time.perf_counter()


class InstanceImages(torch.utils.data.Dataset):
    def __init__(self, folder: Path, prompt: str, tokenizer, size: int):
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not self.paths:
            raise SystemExit(f"no images in {folder}")
        self.prompt, self.tokenizer = prompt, tokenizer
        self.tf = transforms.Compose([
            transforms.Resize(size, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(size),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.5]),
        ])  # fmt: skip

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image = Image.open(self.paths[i]).convert("RGB")
        ids = self.tokenizer(self.prompt, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids[0]
        return {"pixel_values": self.tf(image), "input_ids": ids}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="diffusers pipeline folder")
    ap.add_argument("--instance_dir", required=True)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--output_dir", required=True)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch_size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--adam_weight_decay", type=float, default=1e-2)
    ap.add_argument("--max_grad_norm", type=float, default=1.0)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--alpha", type=int, default=None)
    ap.add_argument("--target_modules", default="to_k,to_q,to_v,to_out.0")
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipe = StableDiffusionPipeline.from_pretrained(a.base, local_files_only=True, safety_checker=None,
                                                   requires_safety_checker=False).to(device)
    vae, text_encoder, tokenizer, unet = pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.unet
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    vae.requires_grad_(False)
    text_encoder.requires_grad_(False)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=a.rank, lora_alpha=a.alpha or a.rank, init_lora_weights="gaussian",
                                target_modules=[m.strip() for m in a.target_modules.split(",") if m.strip()]))
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=a.lr, weight_decay=a.adam_weight_decay)
    size = a.resolution or unet.config.sample_size * pipe.vae_scale_factor
    data = InstanceImages(Path(a.instance_dir), a.prompt, tokenizer, size)
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch_size, shuffle=True, num_workers=0)
    t_loaded = time.perf_counter()

    unet.train()
    step, losses = 0, []
    phases = {"vae_s": 0.0, "text_s": 0.0, "unet_s": 0.0}

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    while step < a.steps:
        for batch in loader:
            sync()
            t0 = time.perf_counter()
            with torch.no_grad():  # recomputed every step: no latent or text-embedding cache
                latents = vae.encode(batch["pixel_values"].to(device)).latent_dist.sample() * vae.config.scaling_factor
                sync()
                t1 = time.perf_counter()
                states = text_encoder(batch["input_ids"].to(device))[0]
                sync()
            t2 = time.perf_counter()
            phases["vae_s"] += t1 - t0
            phases["text_s"] += t2 - t1
            noise = torch.randn_like(latents)
            t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(latents),), device=device).long()
            noisy = noise_scheduler.add_noise(latents, noise, t)
            target = noise if noise_scheduler.config.prediction_type == "epsilon" else noise_scheduler.get_velocity(latents, noise, t)
            pred = unet(noisy, t, states, return_dict=False)[0]
            loss = F.mse_loss(pred.float(), target.float())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            phases["unet_s"] += time.perf_counter() - t2
            step += 1
            if step >= a.steps:
                break
    t_trained = time.perf_counter()

    unet.eval()
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(a.output_dir, unet_lora_layers=layers)
    t_saved = time.perf_counter()
    print(json.dumps({
        "import_s": round(T_IMPORTED - T0, 3),
        "load_s": round(t_loaded - T_IMPORTED, 3),
        "train_s": round(t_trained - t_loaded, 3),
        "save_s": round(t_saved - t_trained, 3),
        **{k: round(v, 3) for k, v in phases.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
        "steps": step,
        "images": len(data),
        "final_loss": float(np.mean(losses[-20:])),
    }))


if __name__ == "__main__":
    main()
