"""The qualitative material: codebooks, transcripts and segments, coded excerpts, REFI-QDA files,
and the shipped codebooks and seed corpus.

The public API is named in ``__all__``; each name is imported from its module on first use.
"""

from corpus.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "Code": "corpus.codebook",
    "Codebook": "corpus.codebook",
    "read_yaml": "corpus.codebook",
    "to_yaml": "corpus.codebook",
    "read_csv": "corpus.codebook",
    "to_csv": "corpus.codebook",
    "read_qdc": "corpus.codebook",
    "to_qdc": "corpus.codebook",
    "load_codebook": "corpus.codebook_files",
    "load_codebooks": "corpus.codebook_files",
    "PrecodeInputError": "corpus.errors",
    "CodebookError": "corpus.errors",
    "TranscriptError": "corpus.errors",
    "ExcerptError": "corpus.errors",
    "Excerpt": "corpus.excerpts",
    "read_excerpts": "corpus.excerpts",
    "write_excerpts": "corpus.excerpts",
    "multi_hot": "corpus.excerpts",
    "QdaProject": "corpus.refi",
    "read_qdpx": "corpus.refi",
    "read_qdpx_codebook": "corpus.refi",
    "read_qdpx_codings": "corpus.refi",
    "write_qdpx": "corpus.refi",
    "Segment": "corpus.segment",
    "segment_transcript": "corpus.segmentation",
    "load_segments": "corpus.segmentation",
    "Transcript": "corpus.transcripts",
    "Turn": "corpus.transcripts",
    "read_transcript": "corpus.transcripts",
    "load_seed": "corpus.seed_corpus",
    "seed_codebook": "corpus.seed_corpus",
})
