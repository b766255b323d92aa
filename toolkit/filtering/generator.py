"""The candidate generator: a small causal LM that writes a case for a given label.

By default a GPT-2 is built from a config with the student's tokenizer (no download, and generated token ids
are ones the student already knows); `filter.generator.model` may name any local or hub causal LM instead.
It reads `<label prompt> ||` and writes the case, ending with the tokenizer's end-of-sequence token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace

import numpy as np
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedModel, PreTrainedTokenizerBase

from toolkit.config import GeneratorSpec
from toolkit.transformer_models import load_tokenizer, resolve_model

PROMPT_END = " ||"


def build_generator(spec: GeneratorSpec, student_model: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A fresh small GPT-2 on the student's tokenizer, or the configured causal LM, with eos / pad tokens set."""
    tokenizer = load_tokenizer(spec.model or student_model)
    # WordPiece tokenizers (BERT family) have [CLS] / [SEP] where a causal LM wants bos / eos
    if tokenizer.eos_token is None:
        tokenizer.eos_token = tokenizer.sep_token
    if tokenizer.bos_token is None and tokenizer.cls_token is not None:
        tokenizer.bos_token = tokenizer.cls_token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if spec.model:
        model = AutoModelForCausalLM.from_pretrained(resolve_model(spec.model))
    else:
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=spec.max_length + spec.response_length + 8,
            n_embd=spec.hidden,
            n_layer=spec.layers,
            n_head=spec.heads,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def query_ids(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[int]:
    """Token ids the generator continues from: [bos] prompt ||."""
    ids = tokenizer(prompt + PROMPT_END, add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + ids


def sft_rows(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], texts: Sequence[str], max_length: int
) -> tuple[list[list[int]], list[list[int]]]:
    """(input ids, completion mask) per text: the label's query, then the text and eos; only the text is learned."""
    ids, masks = [], []
    for prompt, text in zip(prompts, texts, strict=True):
        query = query_ids(tokenizer, prompt)
        room = max(1, max_length - len(query) - 1)
        completion = tokenizer(text, add_special_tokens=False, truncation=True, max_length=room)["input_ids"]
        completion = completion + [tokenizer.eos_token_id]
        ids.append(query + completion)
        masks.append([0] * len(query) + [1] * len(completion))
    return ids, masks


_TIDY = [
    (re.compile(r"(?<=\d) ?([.,]) ?(?=\d)"), r"\1"),  # 392. 7 -> 392.7, 1, 200 -> 1,200
    (re.compile(r"\b([a-z]) \. ([a-z]) \."), r"\1.\2."),  # a . m . -> a.m.
    (re.compile(r"\b([a-z])\. ([a-z])\."), r"\1.\2."),  # a. m. -> a.m.
    (re.compile(r" ?_ ?"), "_"),  # card _ not _ present -> card_not_present
    (re.compile(r" ?' ?(?=s\b)"), "'"),  # customer ' s -> customer's
    (re.compile(r" - "), "-"),
    (re.compile(r"\( "), "("),
    (re.compile(r" \)"), ")"),
    (re.compile(r" (%)"), r"\1"),
    (re.compile(r"\s+"), " "),
]


def tidy(text: str) -> str:
    """Undo WordPiece decoding artefacts so a generated text reads like the data it imitates."""
    for pattern, replacement in _TIDY:
        text = pattern.sub(replacement, text)
    return text.strip()


def decode(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> str:
    return tidy(tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=True))


@torch.inference_mode()
def generation_batch(model: PreTrainedModel) -> int:
    """Prompts decoded together: token-by-token decoding costs about the same per step for 32 or 256 prompts on a
    GPU."""
    return 256 if model.device.type == "cuda" else 32


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int,
    temperature: float,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] = lambda n: None,
) -> list[str]:
    """One sampled text per prompt (prompts of a batch share a length bucket, padded on the left), `batch_size` (by
    default `generation_batch`) at a time."""
    batch_size = batch_size or generation_batch(model)
    model.eval()
    texts: list[str] = [""] * len(prompts)
    queries = [query_ids(tokenizer, p) for p in prompts]
    order = np.argsort([len(q) for q in queries], kind="stable")
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(queries[i]) for i in chunk)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(queries[i])) + queries[i] for i in chunk])
        out = model.generate(
            input_ids=ids.to(model.device),
            attention_mask=(ids != tokenizer.pad_token_id).long().to(model.device),
            do_sample=True,
            temperature=temperature,
            top_k=0,
            max_new_tokens=max_new_tokens,
        )
        for row, i in zip(out[:, width:].tolist(), chunk, strict=True):
            texts[i] = decode(tokenizer, _until_eos(row, tokenizer.eos_token_id))
        on_batch(len(chunk))
    return texts


def generate_within(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int,
    temperature: float,
    seconds: float | None,
    at_least: int,
) -> list[str]:
    """`generate` on `prompts` in their order, one batch at a time, stopping after the batch that passes `seconds`
    (once `at_least` texts are written): the texts of the prompts reached, so prompts cycled over the labels stay
    balanced. `seconds` None writes them all.

    >>> len(generate_within(model, tokenizer, ["p"] * 1024, 96, 1.0, seconds=0.0, at_least=64))  # doctest: +SKIP
    256
    """
    batch = generation_batch(model)
    started, texts = time.perf_counter(), []
    for first in range(0, len(prompts), batch):
        if seconds is not None and len(texts) >= at_least and time.perf_counter() - started > seconds:
            break
        texts += generate(model, tokenizer, prompts[first : first + batch], max_new_tokens, temperature, batch)
    return texts


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids


RewardFunction = Callable[[list[str], list[str]], np.ndarray]  # (labels, texts) -> one reward each


class _RewardBackbone(torch.nn.Module):
    """Decodes query + response ids back to (label, text), asks `reward_fn`, and hands the reward on at every
    position, shaped like a hidden state of width 1."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, label_queries: dict[str, list[int]], reward_fn):
        super().__init__()
        self.tokenizer = tokenizer
        self.label_queries = label_queries
        self.reward_fn = reward_fn
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the module a device

    def _split(self, ids: list[int]) -> tuple[str, list[int]]:
        for label, query in self.label_queries.items():
            # a bos that doubles as the pad token (GPT-2 tokenizers) is masked out with the padding
            for prefix in (query, query[1:]):
                if ids[: len(prefix)] == prefix:
                    return label, ids[len(prefix) :]
        raise ValueError("a PPO query does not start with any label's prompt")

    def rewards(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """One reward per unpadded query + response id sequence."""
        labels, texts = [], []
        for ids in sequences:
            label, response = self._split(list(ids))
            labels.append(label)
            texts.append(decode(self.tokenizer, _until_eos(response, self.tokenizer.eos_token_id)))
        return np.asarray(self.reward_fn(labels, texts), dtype=np.float32)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> SimpleNamespace:
        sequences = [
            [i for i, m in zip(ids, mask, strict=True) if m]
            for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True)
        ]
        rewards = torch.as_tensor(self.rewards(sequences), dtype=torch.float32, device=input_ids.device)
        return SimpleNamespace(hidden_states=(rewards[:, None, None].expand(-1, input_ids.shape[1], 1),))


class PPOReward(torch.nn.Module):
    """A reward "model" in the shape TRL's PPO calls (`base_model_prefix` backbone + `.score` head) around any
    Python reward over decoded texts: here the reward model's score plus the teachers' confidence. GRPO calls
    `rewards(sequences)` on the same object.

    >>> reward = PPOReward(tokenizer, {"low": query_ids(tokenizer, prompt)}, reward_fn)  # doctest: +SKIP
    >>> reward.rewards([query_ids(tokenizer, prompt) + response_ids])  # doctest: +SKIP
    """

    base_model_prefix = "backbone"

    def __init__(self, tokenizer: PreTrainedTokenizerBase, label_queries: dict[str, list[int]], reward_fn):
        super().__init__()
        self.backbone = _RewardBackbone(tokenizer, label_queries, reward_fn)
        self.score = torch.nn.Identity()

    def rewards(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """One reward per unpadded query + response id sequence (the response may end with eos)."""
        return self.backbone.rewards(sequences)
