"""The accelerate training loop: one run = one model, one objective, one seed.

Outputs in ``output_dir``: ``model/`` (selected checkpoint in timm's HF format + model card),
``metrics.json`` (per-epoch history, selected epoch, per-group accuracies for every split),
``config.json`` (config + versions), ``train.log``, and ``state/`` (``accelerator.save_state`` of the last epoch plus ``progress.json``, for resuming).
Re-running the same command resumes after the last finished epoch; a finished run is not redone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from transformers import get_scheduler

from hf_fair import runfolder
from hf_fair.accel import make_accelerator
from hf_fair.classify import models
from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.data import build_transforms, dataset_resolution, loader_over, make_loader
from hf_fair.classify.frozen_features import cache_splits
from hf_fair.classify.objectives import ERM, Objective, make_objective
from hf_fair.classify.supcon import WithProjection, supcon_loss
from hf_fair.classify.weights import example_weights
from hf_fair.data import DataArguments, load_group_dataset, spec_of
from hf_fair.errors import HfFairError
from hf_fair.io_utils import apply_umask, atomic_dir, removed_on_failure, write_json
from hf_fair.metrics import group_metrics
from hf_fair.progress import progress

logger = logging.getLogger("hf_fair.classify")
def fingerprint(args: ClassifierArguments, data_args: DataArguments) -> str:
    """Settings that change results (fields marked otherwise may differ on resume)."""
    return runfolder.fingerprint(args, data_args)


STATE, PROGRESS = "state", "progress.json"  # resumable state: accelerate's save_state folder + our record
SELECT_KEY = {
    "val_worst_group": ("validation", "worst_group_acc"),
    "val_worst_class": ("validation", "worst_class_acc"),
    "val_average": ("validation", "average_acc"),
    "oracle": ("test", "worst_group_acc"),
}


@torch.no_grad()
def predict(model, loader, accelerator, features: bool = False):
    """Predictions (and optionally pooled features) over a whole split, gathered across
    processes exactly once per example (``gather_for_metrics`` drops the padding)."""
    model.eval()
    preds, labels, groups, idxs, feats = [], [], [], [], []
    for x, y, g, idx in loader:
        if features:
            f = models.forward_features(accelerator.unwrap_model(model), x)
            logits = accelerator.unwrap_model(model).get_classifier()(f)
            f = accelerator.gather_for_metrics(f.float().contiguous())
            feats.append(f.cpu())
        else:
            logits = model(x)
        p, y, g, idx = accelerator.gather_for_metrics((logits.argmax(1), y, g, idx))
        preds.append(p.cpu())
        labels.append(y.cpu())
        groups.append(g.cpu())
        idxs.append(idx.cpu())
    out = {
        "pred": torch.cat(preds).numpy(),
        "label": torch.cat(labels).numpy(),
        "group": torch.cat(groups).numpy(),
        "index": torch.cat(idxs).numpy(),
    }
    if features:
        out["features"] = torch.cat(feats).numpy()
    return out


class ClassifierRun:
    def __init__(self, args: ClassifierArguments, data_args: DataArguments, dsd=None):
        if not args.output_dir:
            raise HfFairError("--output_dir is required: the run folder")
        self.args, self.data_args = args, data_args
        self.out = Path(args.output_dir)
        # cpu=True without CUDA lets a torchrun launch (`accelerate launch --multi_gpu
        # --num_processes 2`) form a gloo process group on CPU-only machines.
        self.accelerator = make_accelerator(args.mixed_precision)
        self.fp = fingerprint(args, data_args)
        self.dsd = dsd

    # ---------------------------------------------------------------- setup
    def _check_folder(self) -> dict | None:
        """Return finished metrics when this exact run is already done."""
        cfg_file = self.out / "config.json"
        recorded = json.loads(cfg_file.read_text()).get("fingerprint") if cfg_file.is_file() else None
        # train.log is opened before config.json is written: a run stopped in between is still fresh
        state = runfolder.claim(self.out, self.fp, recorded, self.args.overwrite, "classifier run", early_files=("train.log",))
        if state == "replace":
            if self.accelerator.is_main_process:
                shutil.rmtree(self.out)
            self.accelerator.wait_for_everyone()
        elif state == "resume" and (self.out / "metrics.json").is_file():
            done = json.loads((self.out / "metrics.json").read_text())
            if done.get("finished"):
                return done
        return None

    def _log_to_file(self):
        if self.accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.out / "train.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            self._handler = handler

    def _build_model(self, n_classes: int):
        a = self.args
        if a.stage == "finetune":
            model = models.load_checkpoint(a.init, n_classes, a.reinit_head)
            if a.finetune_scope == "last_layer":
                models.freeze_backbone(model)
        else:
            model = models.create_model(a.model, n_classes, a.pretrained)
        return model

    def _optimizer(self, model, steps_per_epoch: int, epochs: int):
        a = self.args
        params = [p for p in model.parameters() if p.requires_grad]
        if a.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=a.learning_rate, momentum=0.9, weight_decay=a.weight_decay)
        else:
            opt = torch.optim.AdamW(params, lr=a.learning_rate, weight_decay=a.weight_decay)
        total = max(1, steps_per_epoch * epochs)
        warm = int(a.warmup_epochs * steps_per_epoch)
        # linear warm-up from 0, then cosine to 0 (transformers' schedule, as in pretraining the base)
        return opt, get_scheduler("cosine", opt, num_warmup_steps=warm, num_training_steps=total)

    # ---------------------------------------------------------------- loops
    def _train_epoch(self, model, loader, optimizer, scheduler, objective: Objective, epoch: int, step: int,
                     weights: torch.Tensor | None = None, supcon: bool = False):
        """One pass over ``loader``. ``weights`` (indexed by example) scale each example's loss;
        with ``supcon`` the model is a :class:`WithProjection` and the SupCon term is added."""
        a, acc = self.args, self.accelerator
        model.train()
        if a.stage == "finetune" and a.finetune_scope == "last_layer":
            model.eval()  # frozen features: batch-norm statistics stay as pretrained
        total, n = 0.0, 0
        bar = progress(loader, desc=f"epoch {epoch + 1}/{a.epochs}", disable=not acc.is_local_main_process, leave=False)
        for x, y, g, idx in bar:
            w = None if weights is None else weights[idx.cpu()].to(x.device)
            with acc.autocast():
                out = model(x)
            logits, z = out if supcon else (out, None)
            loss = objective.loss(logits, y, g if (g >= 0).all() else None, w)
            if supcon:
                keys = y if a.supcon_positives == "label" else g
                loss = loss + a.supcon_weight * supcon_loss(z, keys, a.supcon_temperature, w)
            if not torch.isfinite(loss):
                raise HfFairError(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {step}; stopped. The last good "
                    f"checkpoint is kept in '{self.out / 'state'}'. Lower --learning_rate or check the data"
                )
            optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            optimizer.step()
            scheduler.step()
            step += 1
            total += loss.item() * len(y)
            n += len(y)
            bar.set_postfix(loss=f"{total / max(n, 1):.4f}")
            if self.args.max_steps is not None and step >= self.args.max_steps:
                break
        return total / max(n, 1), step

    def _evaluate(self, model, loaders, spec) -> dict:
        out = {}
        for split, loader in loaders.items():
            r = predict(model, loader, self.accelerator)
            expected = len(loader.dataset)
            if not np.array_equal(np.sort(r["index"]), np.arange(expected)):
                raise RuntimeError(
                    f"evaluation of '{split}' gathered {len(r['index'])} predictions for {expected} examples "
                    "(duplicated or dropped samples across processes)"
                )
            m = group_metrics(r["pred"], r["label"], r["group"], spec.n_groups, spec.n_attributes)
            m["n"] = int(len(r["pred"]))
            out[split] = m
        return out

    def training_errors(self, train, train_tf, eval_tf, n_classes: int, epochs: int) -> np.ndarray:
        """Train an ERM model for ``epochs`` (JTT's identification model); mask of its training errors."""
        a, acc = self.args, self.accelerator
        set_seed(a.seed + 7919)
        ident = self._build_model(n_classes)
        loader = make_loader(train, train_tf, a.batch_size, True, a.seed + 7919, a.num_workers)
        opt, sched = self._optimizer(ident, len(loader), epochs)
        ident, opt, loader = acc.prepare(ident, opt, loader)
        step = 0
        for e in range(epochs):
            _, step = self._train_epoch(ident, loader, opt, sched, ERM(), e, step)
        ev = acc.prepare(make_loader(train, eval_tf, a.eval_batch_size, False, 0, a.num_workers))
        r = predict(ident, ev, acc)
        errors = np.zeros(len(train), dtype=bool)
        errors[r["index"]] = r["pred"] != r["label"]
        logger.info("JTT: identification model errs on %d of %d training examples", errors.sum(), len(errors))
        return errors

    # ---------------------------------------------------------------- main
    def run(self) -> dict:
        # a run that fails before its first epoch is saved (only train.log and config.json written)
        # leaves no folder behind
        with removed_on_failure(self.out, early=("train.log", "config.json"), enabled=self.accelerator.is_main_process):
            try:
                return self._run()
            except BaseException:
                if hasattr(self, "_handler"):
                    logger.removeHandler(self._handler)
                    self._handler.close()
                raise

    def _run(self) -> dict:
        a, acc = self.args, self.accelerator
        done = self._check_folder()
        if done is not None:
            logger.info("run in '%s' is already finished; nothing to do", self.out)
            return done
        set_seed(a.seed)
        dsd = self.dsd if self.dsd is not None else load_group_dataset(self.data_args)[0]
        if "train" not in dsd:
            raise HfFairError(f"the dataset has no 'train' split (splits: {list(dsd)})")
        train = dsd["train"]
        has_groups = "group" in train.column_names
        objective = make_objective(a)
        if not has_groups and objective.needs_groups:
            raise HfFairError(
                f"objective '{a.objective}' needs group annotations, but the training data has no 'group' "
                "column; load it with hf_fair.data or use --objective erm"
            )
        spec = spec_of(dsd) if has_groups else None
        n_classes = train.features["label"].num_classes
        # per-epoch evaluation serves model selection: only the split the rule reads (the test
        # split is scored once, at the end, unless the rule is the test-split oracle)
        wanted = {"oracle": ("test",), "last": ()}.get(a.selection, ("validation",))
        eval_splits = [s for s in wanted if s in dsd]
        if a.selection.startswith("val_") and "validation" not in dsd:
            raise HfFairError(f"--selection {a.selection} needs a 'validation' split; use --selection last")
        if objective.needs_validation and "validation" not in dsd:
            raise HfFairError(f"--objective {a.objective} refits on the 'validation' split, which this dataset lacks")
        if a.supcon_weight > 0 and a.supcon_positives == "group" and not has_groups:
            raise HfFairError("--supcon_positives group needs a 'group' column in the training data; use --supcon_positives label")
        # per-example loss weights, looked up by each batch's example indices
        weights = None if a.weight_column is None else torch.from_numpy(example_weights(train, a.weight_column, a.weight_rule))

        model = self._build_model(n_classes)
        size = a.image_size or dataset_resolution(train)
        # recorded in the saved model's config: a reader needs no guess of the input size or class names
        self.checkpoint_config = {"input_size": size, "label_names": list(train.features["label"].names),
                                  "extra_config": {"group_names": list(spec.group_names)} if spec else None}
        train_tf, eval_tf = build_transforms(model, size, a.augment, a.hflip, a.shift_px)
        objective.setup(
            np.asarray(train["label"]), np.asarray(train["group"]) if has_groups else None, spec.n_groups if spec else n_classes
        )
        # every input is checked by now (model name, columns, splits): only a run that will train
        # creates its folder, so a refused command leaves nothing behind
        self._log_to_file()
        write_json_main = acc.is_main_process
        if write_json_main:
            write_json(self.out / "config.json", {"fingerprint": self.fp, "num_processes": acc.num_processes, "classifier": asdict(a), "data": asdict(self.data_args), "versions": runfolder.versions("timm", "accelerate", "datasets")})

        if a.stage == "finetune" and a.finetune_scope == "last_layer" and objective.replaces_head:
            # DFR on frozen features: the refit on validation sets the whole head, so training it
            # first would change nothing; the init's features go straight to the refit
            logger.info("%s on frozen features: the head is refit on the validation split; no training epochs", a.objective)
            self._save_model(model, self.out / "best")
            return self._finish(model, objective, dsd, spec, [], None, eval_tf, False, rule=REFIT_ONLY_RULE)

        progress_file = self.out / STATE / PROGRESS
        start_epoch, step, history, best = 0, 0, [], None
        resume = json.loads(progress_file.read_text()) if progress_file.is_file() else None
        if resume is None:
            objective.before_training(self, train, train_tf, eval_tf, n_classes)

        steps_per_epoch = math.ceil(len(train) / (a.batch_size * acc.num_processes))
        supcon = a.supcon_weight > 0
        # last-layer finetuning: the frozen backbone's features once per view, the head trained
        # on them (hf_fair.classify.frozen_features); None where the views are not a finite set
        cached = None
        if a.stage == "finetune" and a.finetune_scope == "last_layer" and a.cache_features:
            cached = cache_splits(model, {"train": train, **{s: dsd[s] for s in eval_splits}}, train_tf, eval_tf, a.eval_batch_size, acc)
        self._trains_on = "features" if cached is not None else "images"
        recorded_on = resume.get("trains_on", "images") if resume is not None else self._trains_on
        if recorded_on != self._trains_on:
            raise HfFairError(
                f"'{self.out}' was trained on {recorded_on} and this run would train on {self._trains_on}; "
                f"pass --cache_features {str(recorded_on == 'features').lower()} to resume it, or --overwrite true to start over"
            )
        # `trained` is what the optimizer steps, `model` the classifier saved, `scorer` what the
        # per-epoch evaluation runs. On cached features the head alone trains and scores. With
        # SupCon the projection head trains beside the classifier (one module, so that a
        # distributed wrapper syncs both); evaluation and checkpoints use the classifier alone.
        # Without it nothing is built, so the random streams are those of cross-entropy alone.
        if cached is not None:
            trained = model.get_classifier()
        elif supcon:
            trained = WithProjection(model, a.supcon_dim)
        else:
            trained = model
        optimizer, scheduler = self._optimizer(trained, steps_per_epoch, a.epochs)
        trained, optimizer = acc.prepare(trained, optimizer)
        if cached is None:
            model = acc.unwrap_model(trained).classifier if supcon else trained
        scorer = trained if cached is not None else model
        # the schedule counts per-process steps already: registered for save_state, not prepared
        # (a prepared scheduler would step once per process)
        acc.register_for_checkpointing(scheduler, objective)
        if resume is not None:
            acc.load_state(str(self.out / STATE))
            start_epoch, step, history, best = resume["epoch"], resume["step"], resume["history"], resume["best"]
            logger.info("resuming '%s' after epoch %d", self.out, start_epoch)
        if cached is not None:
            eval_loaders = {s: acc.prepare(loader_over(cached[s], a.eval_batch_size, False, 0)) for s in eval_splits}
        else:
            eval_loaders = {s: acc.prepare(make_loader(dsd[s], eval_tf, a.eval_batch_size, False, 0, a.num_workers)) for s in eval_splits}

        stopped_early = False
        for epoch in range(start_epoch, a.epochs):
            seed = a.seed * 1000 + epoch
            set_seed(seed)  # each epoch's shuffling/augmentation independent of resumes
            if cached is not None:
                loader = acc.prepare(loader_over(cached["train"], a.batch_size, True, seed, 0, objective.sample_weights()))
            else:
                loader = acc.prepare(make_loader(train, train_tf, a.batch_size, True, seed, a.num_workers, objective.sample_weights()))
            started, step_before = time.perf_counter(), step
            train_loss, step = self._train_epoch(trained, loader, optimizer, scheduler, objective, epoch, step, weights, supcon)
            seconds = time.perf_counter() - started
            last = epoch == a.epochs - 1 or (a.max_steps is not None and step >= a.max_steps)
            record = {
                "epoch": epoch + 1,
                "step": step,
                "train_loss": train_loss,
                "train_seconds": seconds,
                "train_steps": step - step_before,
            }
            if (epoch + 1) % a.eval_every == 0 or last:
                record.update(self._evaluate(scorer, eval_loaders, spec) if spec else {})
                score = self._score(record)
                if best is None or score > list(best["score"]) or a.selection == "last":
                    best = {"epoch": epoch + 1, "score": score}
                    self._save_model(model, self.out / "best")
                logger.info("epoch %d: loss %.4f %s", epoch + 1, train_loss, self._summary(record))
            history.append(record)
            self._save_state(epoch + 1, step, history, best)
            if last:
                stopped_early = epoch < a.epochs - 1
                break

        return self._finish(model, objective, dsd, spec, history, best, eval_tf, stopped_early)

    def _score(self, record: dict) -> list[float]:
        """Selection key; ties (common with a handful of minority validation images) are broken
        by the same split's balanced accuracy, then by its average accuracy."""
        sel = self.args.selection
        if sel == "last":
            return [float(record["epoch"])]
        split, key = SELECT_KEY[sel]
        m = record.get(split, {})
        return [float(m.get(key) or 0.0), float(m.get("balanced_acc") or 0.0), float(m.get("average_acc") or 0.0)]

    @staticmethod
    def _summary(record: dict) -> str:
        parts = []
        for split in ("validation", "test"):
            if split in record:
                parts.append(f"{split} wga {record[split]['worst_group_acc']:.3f} avg {record[split]['average_acc']:.3f}")
        return " | ".join(parts)

    def _save_model(self, model, directory: Path):
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            with atomic_dir(directory) as tmp:
                models.save_checkpoint(self.accelerator.unwrap_model(model), tmp, **self.checkpoint_config)

    def _save_state(self, epoch, step, history, best):
        """``accelerator.save_state`` (model, optimizer, schedule, objective, RNG) plus the
        epoch/history record, written beside ``state/`` and swapped in whole: a run killed while
        saving resumes from the previous epoch."""
        acc = self.accelerator
        final, partial = self.out / STATE, self.out / f"{STATE}.partial"
        acc.wait_for_everyone()
        if acc.is_main_process and partial.exists():
            shutil.rmtree(partial)
        acc.wait_for_everyone()
        acc.save_state(str(partial))
        acc.wait_for_everyone()
        if acc.is_main_process:
            write_json(partial / PROGRESS, {"epoch": epoch, "step": step, "history": history, "best": best,
                                            "trains_on": self._trains_on})
            apply_umask(partial)  # safetensors writes 0600 files whatever the umask
            old = self.out / f"{STATE}.old"
            shutil.rmtree(old, ignore_errors=True)
            if final.exists():
                final.rename(old)
            partial.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()

    def _finish(self, model, objective: Objective, dsd, spec, history, best, eval_tf, stopped_early, rule: str | None = None) -> dict:
        a, acc = self.args, self.accelerator
        acc.wait_for_everyone()
        selected = models.load_checkpoint(self.out / "best", dsd["train"].features["label"].num_classes, False)
        selected, dfr_report = objective.after_training(self, selected, dsd, spec, eval_tf)
        selected = acc.prepare(selected)
        final = {}
        if spec is not None:
            loaders = {s: acc.prepare(make_loader(dsd[s], eval_tf, a.eval_batch_size, False, 0, a.num_workers)) for s in dsd}
            final = self._evaluate(selected, loaders, spec)
        metrics = {
            "finished": True,
            "selection": a.selection,
            "selection_rule": rule or _rule_text(a.selection),
            "selected_epoch": best["epoch"] if best else None,
            "objective": a.objective,
            "stage": a.stage,
            "finetune_scope": a.finetune_scope if a.stage == "finetune" else None,
            "seed": a.seed,
            # relative to this folder: no path of this machine in the record, still true when the run folder moves
            "model": a.model if a.stage != "finetune" else f"init:{os.path.relpath(a.init, self.out)}",
            "group_names": list(spec.group_names) if spec else None,
            "splits": final,
            "history": history,
            "stopped_at_max_steps": stopped_early,
            "dfr": dfr_report,
        }
        if acc.is_main_process:
            from hf_fair.classify.card import write_model_card

            with atomic_dir(self.out / "model") as tmp:
                models.save_checkpoint(acc.unwrap_model(selected), tmp, **self.checkpoint_config)
                write_model_card(tmp, metrics, self.data_args, a)
            write_json(self.out / "metrics.json", metrics)
            if hasattr(self, "_handler"):
                logger.info("finished: %s", self._summary(final))
                logger.removeHandler(self._handler)
                self._handler.close()
        acc.wait_for_everyone()
        if a.push_to_hub and acc.is_main_process:
            from hf_fair.hub import publish_folder

            publish_folder(self.out / "model", a.push_to_hub, repo_type="model")
        return metrics

    def refit_last_layer(self, model, dsd, spec, eval_tf):
        """DFR's step: the last layer refit on group-balanced validation features; (model, report)."""
        from hf_fair.classify.dfr import refit_last_layer, set_head

        a, acc = self.args, self.accelerator
        prepared = acc.prepare(model)
        loader = acc.prepare(make_loader(dsd["validation"], eval_tf, a.eval_batch_size, False, 0, a.num_workers))
        r = predict(prepared, loader, acc, features=True)
        w, b, report = refit_last_layer(
            r["features"], r["label"], r["group"], dsd["train"].features["label"].num_classes, spec.n_groups, a.dfr_repeats, a.seed
        )
        model = acc.unwrap_model(prepared)
        set_head(model, w, b)
        return model, report


REFIT_ONLY_RULE = "none: the init's frozen features, the head refit on the validation split (no training epochs)"


def _rule_text(selection: str) -> str:
    return {
        "val_worst_group": "epoch with the highest worst-group accuracy on the validation split (ties: balanced, then average accuracy)",
        "val_worst_class": "epoch with the highest worst-class accuracy on the validation split",
        "val_average": "epoch with the highest average accuracy on the validation split",
        "oracle": "epoch with the highest worst-group accuracy on the TEST split (oracle, reference only)",
        "last": "last epoch",
    }[selection]


def train_classifier(args: ClassifierArguments, data_args: DataArguments, dsd=None) -> dict:
    return ClassifierRun(args, data_args, dsd).run()
