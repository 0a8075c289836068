"""The encoder's fast CPU backend: the sentence-transformers encoder exported to ONNX, its graph
fused (attention, layer norms, GELU) and its weights quantized to int8, run by ONNX Runtime.

How it was chosen (``python -m eval.bench.quantization`` measures the variants again,
``eval/results/quantization.md``): dynamic int8 quantization with one scale per weight column
(``per_channel``), signed int8 weights, every MatMul and the fused Attention quantized, of the graph
fused by ONNX Runtime's transformer optimizer (attention, layer norms, GELU; it needs the encoder
exported with eager attention). On the built-in model, one thread, each text alone, on a CPU
with AVX-512 VNNI: 2.7 times PyTorch fp32 in CPU time (with AVX2 alone, int8 products are
slower: about 1.8 times, ``int8_instructions``), cosine to fp32 0.982 at worst and 0.992 on
average. One scale per weight matrix (the default) was as fast but fell to a cosine of 0.90;
unsigned weights took 1.6 times as
long; leaving Attention in fp32 was slower (2.1 times PyTorch) for a cosine of 0.985; reduce_range
changed nothing. The same graph unfused was 4-8% faster in two runs at the same fidelity: within
the noise of a shared machine, and a candidate to measure again.

Each text runs alone (``MAX_BATCH``), with one thread, and texts run side by side on as many
threads as PyTorch would use: two threads inside one text's small matrices spent twice the CPU
time for little gain.

Pooling and normalisation are done here exactly as the sentence-transformers modules of the
encoder directory say (``modules.json``; mean, CLS or max pooling, then L2 normalisation), on the
transformer's token embeddings: an exported model gives the same vectors as the encoder it came from
up to quantization.

Int8 activations share one quantization scale per run, so in a batch a text's embedding would
depend on the texts beside it: alone, it depends on its own text only.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ONNX_FILE = "encoder.int8.onnx"
# texts per run of the model: one. The activations of a run share one int8 scale, so in a batch
# a text's embedding would depend (at the third decimal of a confidence) on the texts beside it;
# alone, it depends on its own text only, and nothing is padded. Batches of 4-16 texts sorted by
# length took about 0.9 times the CPU time per text.
MAX_BATCH = 1
EXPORT_FORMAT = 1
# what the export does; written into the exported file and into ``precode bench speed``'s report
# how the product exports; ``eval.bench.quantization`` measures the alternatives
QUANTIZATION = {"per_channel": True, "reduce_range": False, "weight_type": "QInt8",
                "op_types": None}  # None: every op type ONNX Runtime quantizes (MatMul, Attention)
EXPORT_SETTINGS = {"format": EXPORT_FORMAT, "opset": 17, "attention": "eager", "fused": True,
                   "quantization": QUANTIZATION}


class ExportError(RuntimeError):
    """The encoder cannot be exported to the fast backend (an architecture or pooling it does
    not handle); the torch encoder is used instead."""


def int8_instructions() -> str:
    """The CPU's instructions for int8 matrix products, which decide how much faster the int8
    encoder is than PyTorch fp32 (measured: about 5 times in CPU time with AVX-512 VNNI, under 2
    times with AVX2 alone; ``eval/results/speed.md`` names the one it ran on)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    for flag, name in (("amx_int8", "AMX"), ("avx512_vnni", "AVX-512 VNNI"),
                       ("avx_vnni", "AVX-VNNI"), ("avx512bw", "AVX-512 (no VNNI)"),
                       ("avx2", "AVX2 (no VNNI)")):
        if flag in flags:
            return name
    return "no AVX2" if flags else "unknown"


def weights_digest(encoder_dir: str | Path) -> str:
    """A fingerprint of an encoder directory's weights, to tell whether an export is its own."""
    encoder_dir = Path(encoder_dir)
    h = hashlib.sha256()
    files = sorted(p for p in encoder_dir.iterdir()
                   if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not files:
        raise ExportError(f"no weights in {encoder_dir}")
    for p in files:
        h.update(p.name.encode())
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:32]


def _pooling(encoder_dir: Path) -> tuple[str, bool, int | None]:
    """(pooling mode, normalise, max_seq_length) from a sentence-transformers directory."""
    modules_file = encoder_dir / "modules.json"
    if not modules_file.exists():
        raise ExportError("no modules.json: not a sentence-transformers directory")
    modules = json.loads(modules_file.read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ExportError(f"modules {kinds} are not Transformer, Pooling[, Normalize]")
    cfg = json.loads((encoder_dir / modules[1]["path"] / "config.json").read_text())
    modes = cfg.get("pooling_mode")  # "mean" (or a list); older files: pooling_mode_*_token(s)
    if modes is None:
        legacy = {"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max"}
        modes = [legacy.get(k[len("pooling_mode_"):], k) for k, v in cfg.items()
                 if k.startswith("pooling_mode_") and v is True]
    modes = [modes] if isinstance(modes, str) else list(modes)
    if len(modes) != 1 or modes[0] not in ("mean", "cls", "max"):
        raise ExportError(f"pooling {modes} is not one of mean, cls or max")
    st_cfg = encoder_dir / "sentence_bert_config.json"
    max_len = json.loads(st_cfg.read_text()).get("max_seq_length") if st_cfg.exists() else None
    return modes[0], kinds[-1] == "Normalize", max_len


def export_onnx(model, encoder_dir: str | Path, out: str | Path, *, fuse: bool = True,
                quantization: dict | None = QUANTIZATION) -> Path:
    """Export the sentence-transformers ``model`` (whose saved directory is ``encoder_dir``) to an
    int8 ONNX file at ``out`` (written whole, then renamed into place). ``fuse`` and
    ``quantization`` (None: fp32) are there to measure alternatives; the defaults are the
    product's."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    encoder_dir, out = Path(encoder_dir), Path(out)
    _pooling(encoder_dir)
    transformer = model[0].auto_model
    config = transformer.config
    if config.model_type not in ("bert",):
        raise ExportError(f"model type {config.model_type!r} is not exported (only BERT-like)")
    digest = weights_digest(encoder_dir)
    net = copy.deepcopy(transformer).to("cpu").eval()
    net.set_attn_implementation("eager")  # the pattern ONNX Runtime fuses into one Attention op

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    # one part file per process: processes loading the same model may export it at once
    part = out.with_name(f"{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    # the exporter warns about traced branches (none depends on the input here), the graph tools
    # log every fusion and advise pre-processing: none of it is for the user
    try:
        with tempfile.TemporaryDirectory(prefix="precode-onnx-") as tmp, _quiet_logging(), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fp32, fused = Path(tmp) / "fp32.onnx", Path(tmp) / "fused.onnx"
            with torch.no_grad():
                torch.onnx.export(TokenEmbeddings(net), dummy, str(fp32), input_names=names,
                                  output_names=["token_embeddings"], opset_version=17, dynamo=False,
                                  dynamic_axes={n: {0: "batch", 1: "sequence"}
                                                for n in [*names, "token_embeddings"]})
            del net
            if fuse:
                optimized = optimize_model(str(fp32), model_type="bert",
                                           num_heads=config.num_attention_heads,
                                           hidden_size=config.hidden_size, opt_level=1)
                optimized.save_model_to_file(str(fused))
            else:
                fused = fp32
            if quantization is None:
                shutil.copyfile(fused, part)
            else:
                quantize_dynamic(str(fused), str(part), per_channel=quantization["per_channel"],
                                 reduce_range=quantization["reduce_range"],
                                 weight_type=getattr(QuantType, quantization["weight_type"]),
                                 op_types_to_quantize=quantization["op_types"],
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        graph = onnx.load(str(part))
        for key, value in (("precode_weights", digest),
                           ("precode_export", json.dumps(
                               {**EXPORT_SETTINGS, "fused": fuse, "quantization": quantization},
                               sort_keys=True))):
            graph.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
        onnx.save(graph, str(part))
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return out


def exported_weights(onnx_path: str | Path) -> str | None:
    """The weights fingerprint an export was made from (None for a file that is not one)."""
    import onnx

    try:
        graph = onnx.load(str(onnx_path), load_external_data=False)
    except Exception:  # not an ONNX file
        return None
    return {p.key: p.value for p in graph.metadata_props}.get("precode_weights")


@contextlib.contextmanager
def _quiet_logging():
    """ONNX Runtime's graph tools log every fusion at INFO and advice at WARNING."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def export_is_current(encoder: OnnxEncoder) -> bool:
    """Whether ``encoder``'s ONNX file is an export of its source directory's weights, in the
    current format."""
    meta = encoder.session.get_modelmeta().custom_metadata_map
    return (encoder.settings.get("format") == EXPORT_FORMAT
            and meta.get("precode_weights") == weights_digest(encoder.source))


def _threads(threads: int | None) -> int:
    """Threads to encode with: ``threads``, else PyTorch's when it is loaded (where
    ``PRECODE_TORCH_THREADS`` was applied), else ``PRECODE_TORCH_THREADS``, else 0 (the cores this
    process may use)."""
    if threads:
        return threads
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    try:
        return max(0, int(os.environ.get("PRECODE_TORCH_THREADS") or 0))
    except ValueError:
        return 0


def _options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so


class OnnxEncoder:
    """Encodes texts like the sentence-transformers encoder in ``source`` does, with the int8
    ONNX model at ``onnx_path``.

    ``threads``: how many texts run side by side, one thread each (default: as many as PyTorch
    would use, see ``_threads``). Neither
    PyTorch nor transformers is loaded: the tokenizer is the encoder's ``tokenizer.json``."""

    backend = "onnx"
    device = "cpu"

    def __init__(self, onnx_path: str | Path, source: str | Path, *, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.onnx_path, self.source = Path(onnx_path), Path(source)
        self.pooling, self.normalize, max_len = _pooling(self.source)
        if not (self.source / "tokenizer.json").exists():
            raise ExportError("no tokenizer.json (a fast tokenizer) beside the encoder")
        # the fast tokenizer that sentence-transformers runs, without loading transformers:
        # truncated at the encoder's max_seq_length (else the tokenizer's own limit), unpadded
        config_file = self.source / "tokenizer_config.json"
        config = json.loads(config_file.read_text()) if config_file.exists() else {}
        limit = config.get("model_max_length")
        self.max_seq_length = int(max_len or (limit if limit and limit < 100_000 else 512))
        self.tokenizer = Tokenizer.from_file(str(self.source / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.pad_id = self.tokenizer.token_to_id(str(config.get("pad_token", "[PAD]"))) or 0
        # texts run alone, so the cores are shared out between texts (one thread each, texts side
        # by side) rather than within one text's small matrices
        self.workers = _threads(threads) or len(os.sched_getaffinity(0)) or 1
        self.session = ort.InferenceSession(str(self.onnx_path), _options(1),
                                            providers=["CPUExecutionProvider"])
        self._pool_of_threads = None
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's token ids as the encoder sees them (special tokens, truncation)."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    @property
    def settings(self) -> dict:
        """How the file was exported (``EXPORT_SETTINGS`` of the precode that wrote it)."""
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            return json.loads(meta.get("precode_export", "{}"))
        except ValueError:
            return {}

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def save(self, path: str | Path) -> None:
        """Copy the sentence-transformers directory it was made from (the exported file is the
        model directory's business)."""
        shutil.copytree(self.source, path, dirs_exist_ok=True)

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Embeddings (float32, L2-normalised, one row per text): the texts are tokenized in one
        call, sorted by length, and run ``batch_size`` (at most ``MAX_BATCH``) at a time, on
        ``workers`` threads side by side. A text's embedding depends on its text only."""
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if not n:
            return out
        ids = self.token_ids(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        order = np.argsort(-lengths, kind="stable")
        step = max(1, min(batch_size, MAX_BATCH))
        batches = [order[i:i + step] for i in range(0, n, step)]
        workers = min(self.workers, len(batches))
        if workers <= 1:
            self._run(batches, ids, lengths, out)
        else:
            if self._pool_of_threads is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool_of_threads = ThreadPoolExecutor(self.workers,
                                                           thread_name_prefix="precode-onnx")
            # ONNX Runtime lets go of the GIL while it runs; each thread takes every
            # workers-th batch (long and short ones alike, as they are sorted by length)
            jobs = [self._pool_of_threads.submit(self._run, batches[w::workers], ids, lengths,
                                                 out) for w in range(workers)]
            for job in jobs:
                job.result()
        return out

    def _run(self, batches: list[np.ndarray], ids: list[list[int]], lengths: np.ndarray,
             out: np.ndarray) -> None:
        for rows in batches:
            width = int(lengths[rows[0]])
            input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, :lengths[i]] = ids[i]
            mask = (np.arange(width)[None, :] < lengths[rows][:, None]).astype(np.int64)
            feed = {"input_ids": input_ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(input_ids)
            tokens = self.session.run(None, feed)[0]
            out[rows] = self._pool(tokens, mask)

    def _pool(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[..., None].astype(np.float32)
        if self.pooling == "cls":
            x = tokens[:, 0]
        elif self.pooling == "max":
            x = np.where(m > 0, tokens, -1e9).max(axis=1)
        else:
            x = (tokens * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        # the encoder's Normalize module, or encode(normalize_embeddings=True): both L2
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.clip(norm, 1e-12, None)).astype(np.float32)
