"""Errors of the knowledge package. Messages say what is wrong and what to do next."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Root of every error raised by ``knowledge``."""

    #: A short machine-readable code that callers (actions, CLI) can map to replies.
    code = "knowledge_error"


class CorpusError(KnowledgeError, ValueError):
    """An FAQ corpus file is malformed; ``problems`` lists each finding with its line number."""

    code = "corpus_invalid"

    def __init__(self, path: object, problems: list[str]) -> None:
        shown = problems[:20]
        hidden = len(problems) - len(shown)
        more = f"\n  ... and {hidden} more" if hidden else ""
        super().__init__(f"{path}: " + "\n  ".join(["invalid FAQ data:", *shown]) + more)
        self.path = path
        self.problems = problems


class ImportFileError(CorpusError):
    """A file given to ``crmbot knowledge import`` cannot be read; nothing was changed."""

    code = "import_file_invalid"


class IndexNotFound(KnowledgeError):
    """No index artifact exists for the current corpus; run ``crmbot knowledge index``."""

    code = "index_not_found"


class IndexStale(KnowledgeError):
    """The index on disk does not match the corpus or the model (sidecar check failed)."""

    code = "index_stale"


class IndexWriteFailed(KnowledgeError):
    """The index folder is not writable (check KNOWLEDGE_INDEX_DIR and its permissions)."""

    code = "index_write_failed"


class ModelUnavailable(KnowledgeError):
    """The sentence-embedding model could not be found or loaded."""

    code = "model_unavailable"
