"""Knowledge: the FAQ corpus, its semantic index and retrieval for the assistant.

Other packages import only what this module exports. Nothing is loaded at import time:
``FaqRetriever.load(settings)`` reads the corpus, loads the model once and checks the index.
"""

from knowledge.corpus import Faq, corpus_hash, load_corpus, save_corpus
from knowledge.embedder import Embedder
from knowledge.errors import (
    CorpusError,
    ImportFileError,
    IndexNotFound,
    IndexStale,
    IndexWriteFailed,
    KnowledgeError,
    ModelUnavailable,
)
from knowledge.importer import ImportResult, import_faqs, read_faq_file
from knowledge.index import FaqIndex, artifact_paths, build_index, check_sidecar, load_index
from knowledge.retriever import FaqAnswer, FaqHit, FaqRetriever
from knowledge.settings import KnowledgeSettings

__all__ = [
    "CorpusError",
    "Embedder",
    "Faq",
    "FaqAnswer",
    "FaqHit",
    "FaqIndex",
    "FaqRetriever",
    "ImportFileError",
    "ImportResult",
    "IndexNotFound",
    "IndexStale",
    "IndexWriteFailed",
    "KnowledgeError",
    "KnowledgeSettings",
    "ModelUnavailable",
    "artifact_paths",
    "build_index",
    "check_sidecar",
    "corpus_hash",
    "import_faqs",
    "load_corpus",
    "load_index",
    "read_faq_file",
    "save_corpus",
]
