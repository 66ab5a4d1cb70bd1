"""The two Hugging Face encoders HunyuanVideo-Foley conditions on, through transformers' classes.

- `VisualEncoder`: the SigLIP2 vision tower (`google/siglip2-base-patch16-512`, a `SiglipModel`
  checkpoint of which only `vision_model.*` is loaded), one pooled vector per frame: what the
  official `get_image_features(...)` returns (`.pooler_output` in transformers 5).
- `TextEncoder`: the CLAP text tower (`laion/larger_clap_general`) and its tokenizer. The DiT
  reads its *last hidden state* (768-d per token), not the projection. As the official pipeline
  does, a request's negative and positive prompts are tokenised together with `padding=True`
  (both padded to the longer of the two), encoded with the attention mask, and cut to 77 tokens
  after encoding; the pad positions stay in the features (no mask reaches the DiT).

Both load from local directories in Hugging Face format (`save_pretrained` / a hub snapshot),
never from the hub: `local_files_only=True`. A missing directory or file is a `ConfigError`
that names it and the repo to download. Loads are strict: a weight the model needs that the
directory lacks is an error, not a silently random tensor (weights of the towers we do not use,
SigLIP's text tower and CLAP's audio tower, are expected and skipped).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from torch import nn
from transformers import (
    AutoTokenizer,
    ClapTextConfig,
    ClapTextModelWithProjection,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    SiglipVisionConfig,
    SiglipVisionModel,
)
from transformers.utils import logging as hf_logging

from foleyserve.errors import ConfigError

SIGLIP2_REPO = "google/siglip2-base-patch16-512"
CLAP_REPO = "laion/larger_clap_general"
SIGLIP2_DIR = "siglip2-base-patch16-512"
"""Default sub-directory of the model directory holding the SigLIP2 snapshot."""
CLAP_DIR = "larger_clap_general"
"""Default sub-directory of the model directory holding the CLAP snapshot (and tokenizer)."""
TEXT_LENGTH = 77
"""Text tokens the DiT sees at most (`text_length` of the official configs)."""
DEFAULT_NEGATIVE_PROMPT = "noisy, harsh"
"""The official default negative prompt, used when a request gives none."""

log = logging.getLogger(__name__)


class VisualEncoder:
    """SigLIP2 frames [N, 3, S, S] in [-1, 1] to pooled features [N, D] float32."""

    def __init__(self, model: SiglipVisionModel, *, max_frames: int = 64) -> None:
        self.model = model
        _freeze(model)
        self.max_frames = max_frames

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return _device(self.model)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Features of every frame, `max_frames` at a time; float32 on the model's device."""
        dtype = next(self.model.parameters()).dtype
        outputs = []
        with torch.inference_mode():
            for start in range(0, pixels.shape[0], self.max_frames):
                chunk = pixels[start : start + self.max_frames].to(self.device, dtype)
                pooled = self.model(pixel_values=chunk).pooler_output
                outputs.append(pooled.float())
        if not outputs:
            return torch.empty(0, self.dim, device=self.device)
        return torch.cat(outputs)


class TextEncoder:
    """CLAP text tower: (prompt, negative prompt) pairs to per-token features."""

    def __init__(
        self,
        model: ClapTextModelWithProjection,
        tokenizer: PreTrainedTokenizerBase,
        *,
        text_length: int = TEXT_LENGTH,
    ) -> None:
        self.model = model
        _freeze(model)
        self.tokenizer = tokenizer
        self.text_length = text_length
        # Roberta-style positions: two are reserved, so this many tokens fit.
        self.max_tokens = int(model.config.max_position_embeddings) - 2

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return _device(self.model)

    def encode_pairs(
        self, pairs: Sequence[tuple[str, str]]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """For each (prompt, negative): (prompt features, negative features), each
        [L, D] float32 on the CPU with L = min(77, the pair's longer token count).

        All pairs run through the model in one batch. Each pair keeps its own padding length
        (as if tokenised alone, the official way); the extra padding of the batch is masked and
        cut off, so a pair's features do not depend on its neighbours.
        """
        if not pairs:
            return []
        rows: list[str] = []
        for prompt, negative in pairs:
            rows += [prompt, negative or DEFAULT_NEGATIVE_PROMPT]
        tokens = self.tokenizer(
            rows, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        mask = tokens["attention_mask"]
        lengths = mask.sum(dim=1)
        with torch.inference_mode():
            hidden = self.model(
                input_ids=tokens["input_ids"].to(self.device), attention_mask=mask.to(self.device)
            ).last_hidden_state.float()
        out = []
        for i in range(len(pairs)):
            pair_len = int(max(lengths[2 * i], lengths[2 * i + 1]))
            keep = min(pair_len, self.text_length)
            out.append((hidden[2 * i, :keep].cpu(), hidden[2 * i + 1, :keep].cpu()))
        return out


# ------------------------------------------------------------------------------ loading


def load_visual_encoder(
    path: Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> VisualEncoder:
    """The SigLIP2 vision tower from a local snapshot of google/siglip2-base-patch16-512."""
    model = _from_pretrained(SiglipVisionModel, path, SIGLIP2_REPO, dtype)
    return VisualEncoder(_moved(model, device))


def load_text_encoder(
    path: Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> TextEncoder:
    """The CLAP text tower and its tokenizer from a local snapshot of laion/larger_clap_general."""
    model = _from_pretrained(ClapTextModelWithProjection, path, CLAP_REPO, dtype)
    return TextEncoder(_moved(model, device), _load_tokenizer(path))


def _load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    # Without its files transformers builds an empty tokenizer from config.json, which would
    # turn every prompt into unknown tokens: the files must be there.
    has_files = (path / "tokenizer.json").is_file() or all(
        (path / name).is_file() for name in ("vocab.json", "merges.txt")
    )
    problem = None if has_files else "tokenizer.json (or vocab.json and merges.txt) is missing"
    tokenizer = None
    if problem is None:
        try:
            with _quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            problem = str(exc)
    if tokenizer is None:
        raise ConfigError(
            f"cannot load the CLAP tokenizer from {path}: {problem}. Download the complete "
            f"snapshot of the Hugging Face repo {CLAP_REPO} (tokenizer files included) there",
            code="model_file_missing",
        )
    return cast(PreTrainedTokenizerBase, tokenizer)


def _from_pretrained(cls: type[PreTrainedModel], path: Path, repo: str, dtype: torch.dtype) -> Any:
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"no Hugging Face model in {path} (config.json missing); download the snapshot of "
            f"{repo} into that directory, e.g. `hf download {repo} --local-dir {path}`",
            code="model_file_missing",
        )
    loader: Any = cls.from_pretrained
    try:
        with _quiet_transformers():
            model, info = loader(
                str(path), local_files_only=True, output_loading_info=True, dtype=dtype
            )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"cannot load {repo} from {path}: {exc}. Download the complete snapshot (weights "
            "included) into that directory",
            code="model_file_missing",
        ) from exc
    problems = [
        f"{len(info[k])} {k.replace('_', ' ')}: {', '.join(sorted(map(str, info[k]))[:10])}"
        for k in ("missing_keys", "mismatched_keys")
        if info[k]
    ]
    if problems:
        raise ConfigError(
            f"weights in {path} do not match {repo}: " + "; ".join(problems),
            code="checkpoint_mismatch",
        )
    return model


def _freeze(model: nn.Module) -> None:
    model.requires_grad_(False)
    model.train(False)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _moved(model: Any, device: torch.device | str) -> Any:
    return model.to(device)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers prints a table of skipped weights (the towers we do not use) on every
    load; that is expected here, so only its errors are shown."""
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


# ------------------------------------------------------------------------------ builders


def byte_tokenizer(model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """A Roberta-shaped byte-level tokenizer with no merges (one token per byte; ids 0-3 are
    `<s> <pad> </s> <unk>`, as in CLAP's tokenizer). For tests and benchmark mode: it needs
    no files, and its ids fit any CLAP vocabulary of at least 260 entries."""
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = {
        token: i for i, token in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))
    }
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    fast: Any = PreTrainedTokenizerFast
    return cast(
        PreTrainedTokenizerFast,
        fast(
            tokenizer_object=tokenizer,
            bos_token="<s>",
            eos_token="</s>",
            pad_token="<pad>",
            unk_token="<unk>",
            model_max_length=model_max_length,
        ),
    )


SIGLIP2_VISION = SiglipVisionConfig(
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    image_size=512,
    patch_size=16,
)
"""The vision tower of google/siglip2-base-patch16-512 (ViT-B/16 at 512x512)."""

CLAP_TEXT = ClapTextConfig(
    vocab_size=50265,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    projection_dim=512,
)
"""The text tower of laion/larger_clap_general (Roberta-base sized)."""


def random_visual_encoder(
    seed: int,
    config: SiglipVisionConfig = SIGLIP2_VISION,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> VisualEncoder:
    """BENCHMARK ONLY: a SigLIP2 vision tower with seeded random weights."""
    torch.manual_seed(seed)
    with torch.device(device):  # initialised where it runs: seconds less on a GPU
        model: Any = SiglipVisionModel(config)
    return VisualEncoder(model.to(dtype=dtype))


def random_text_encoder(
    seed: int,
    config: ClapTextConfig = CLAP_TEXT,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> TextEncoder:
    """BENCHMARK ONLY: a CLAP text tower with seeded random weights and `byte_tokenizer`."""
    torch.manual_seed(seed)
    with torch.device(device):
        model: Any = ClapTextModelWithProjection(config)
    model = model.to(dtype=dtype)
    return TextEncoder(model, byte_tokenizer(int(config.max_position_embeddings) - 2))
