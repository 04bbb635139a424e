"""Whole files written to a folder or an object store, for any app (alert reports).

The same locations as the cold archive (HISTORY_ARCHIVE_PATH): a local path, or a URI that
pyarrow's filesystems open (``s3://bucket/prefix?endpoint_override=...``). The archive keeps its
own ``equipment_history.parquet_archive.ArchiveLocation`` (Parquet-specific: date folders,
compaction, temporaries DuckDB must not see); this is the generic part an app may import, since
apps may not import another app's modules (docs/ARCHITECTURE.md). Built lazily from
``TELEMETRY_FILE_STORES``; nothing is opened before the first write.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any


class FileStore:
    def __init__(self, path: str) -> None:
        if not path:
            raise ValueError("the file store path is empty")
        self.uri = path
        self._filesystem: Any = None
        self._root = ""

    def _open(self) -> tuple[Any, str]:
        if self._filesystem is None:
            from pyarrow import fs

            if "://" in self.uri:
                self._filesystem, root = fs.FileSystem.from_uri(self.uri)
            else:
                self._filesystem, root = fs.LocalFileSystem(), os.path.abspath(self.uri)
            self._root = root.rstrip("/")
        return self._filesystem, self._root

    def location(self, relative: str) -> str:
        """Where ``relative`` is (or would be) stored: a local path, or the store's URI form."""
        _, root = self._open()
        if "://" in self.uri:
            scheme = self.uri.split("://", 1)[0]
            return f"{scheme}://{root}/{relative}"
        return f"{root}/{relative}"

    def write(self, relative: str, data: bytes) -> str:
        """Store ``data`` as ``relative`` all at once (a reader never sees half a file) and return
        its location. Writing the same name again replaces it."""
        from pyarrow import fs

        filesystem, root = self._open()
        target = f"{root}/{relative}"
        if isinstance(filesystem, fs.LocalFileSystem):
            folder = os.path.dirname(target)
            os.makedirs(folder, exist_ok=True)
            temporary = f"{folder}/.{os.path.basename(target)}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                with open(temporary, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        else:  # an object store's PUT is atomic already
            with filesystem.open_output_stream(target) as out:
                out.write(data)
        return self.location(relative)

    def read(self, relative: str) -> bytes:
        filesystem, root = self._open()
        with filesystem.open_input_stream(f"{root}/{relative}") as stream:
            return stream.read()
