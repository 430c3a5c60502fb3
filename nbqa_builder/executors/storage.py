"""Where a cluster run keeps `_work/`: a folder every node reads, or object storage.

The steps and `stages.run_part` read and write plain files under a work folder. On one machine,
or on a cluster with a shared file system (NFS, Lustre, a mounted bucket), that folder is
`<output>/_work` itself and nothing is copied. With `executor.storage: s3://...`, `gs://...` or
`file:///...` the parts live there instead (through `pyarrow.fs`; a scheme pyarrow does not know,
such as `az://` or `hf://`, through the fsspec file system of that name), and each task works in a
mirror of the folder on its node's local disk: it downloads the inputs its part needs (the
previous stage's part and reduce), runs the part there, and uploads what it wrote, the summary
(the part's done marker) last, so a part is done in storage only when it is there whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

_MARKER_SUFFIX = ".json"


class WorkStore:
    """The run's `_work/` folder as every node sees it."""

    def __init__(self, work: Path, url: str | None = None) -> None:
        self.work = Path(work)  # the driver's own folder (the writer reads it at the end)
        self.url = url
        self._fs = None
        self._base = ""

    @property
    def shared(self) -> bool:
        """True when tasks read and write `work` directly."""
        return self.url is None

    def __getstate__(self) -> dict:
        return {"work": self.work, "url": self.url}  # a pyarrow file system is opened on each node

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["work"], state["url"])

    @property
    def fs(self):
        if self._fs is None:
            from pyarrow import fs

            if self.url is None:
                self._fs, self._base = fs.LocalFileSystem(), str(self.work)
            else:
                self._fs, self._base = open_storage(self.url)
        return self._fs

    def _path(self, relative: str) -> str:
        self.fs  # noqa: B018 (opens it)
        return f"{self._base}/{relative}"

    # --- plain access, from the driver or any task --------------------------------------------

    def read_bytes(self, relative: str) -> bytes:
        with self.fs.open_input_stream(self._path(relative)) as handle:
            return handle.read()

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Whole or not at all: a local file system gets a temporary file renamed into place; an
        object store shows an object only once it is closed."""
        path = self._path(relative)
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        if self.fs.type_name == "local":
            tmp = f"{path}.{os.getpid()}.tmp"
            with self.fs.open_output_stream(tmp) as handle:
                handle.write(data)
            self.fs.move(tmp, path)
        else:
            with self.fs.open_output_stream(path) as handle:
                handle.write(data)

    def exists(self, relative: str) -> bool:
        from pyarrow import fs

        return self.fs.get_file_info(self._path(relative)).type != fs.FileType.NotFound

    def names(self, folder: str) -> set[str]:
        """File names in a folder of the store (empty when it does not exist)."""
        from pyarrow import fs

        selector = fs.FileSelector(self._path(folder), allow_not_found=True)
        return {info.base_name for info in self.fs.get_file_info(selector)}

    def remove_all(self) -> None:
        if self.shared:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            self.fs.delete_dir_contents(self._base, missing_dir_ok=True)

    # --- a task's view --------------------------------------------------------------------------

    def task_folder(self, run_key: str) -> Path:
        """The work folder a task on this node reads and writes: the shared one, or its mirror."""
        if self.shared:
            return self.work
        digest = hashlib.sha256(f"{self.url}|{run_key}".encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "nbqa_builder-work" / digest

    def fetch(self, folder: Path, relative: str, keep: bool = False) -> None:
        """Copy a stored file into a task's mirror (`keep`: once per node, for files every part reads)."""
        if self.shared:
            return
        target = folder / relative
        if keep and target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(self.read_bytes(relative))
        os.replace(tmp, target)

    def publish(self, folder: Path, relatives: list[str]) -> None:
        """Upload files a task wrote in its mirror, in order (the done marker last), then delete them."""
        if self.shared:
            return
        for relative in relatives:
            local = folder / relative
            if local.exists():
                self.write_bytes(relative, local.read_bytes())
        for relative in relatives:
            (folder / relative).unlink(missing_ok=True)


class StorageError(ValueError):
    """`executor.storage` names nothing this machine can open."""


def open_storage(url: str):
    """A pyarrow file system and the base path in it for a storage URL: pyarrow's own (s3, gs,
    hdfs, file), else fsspec's file system of the URL's scheme wrapped for pyarrow."""
    from pyarrow import fs

    try:
        opened, base = fs.FileSystem.from_uri(url)
        return opened, base.rstrip("/")
    except (ValueError, ImportError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        pyarrow_error = exc
    import fsspec

    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in fsspec.available_protocols():
        raise StorageError(f"{url}: no file system for {scheme or 'a URL without a scheme'!r} "
                           f"(pyarrow: {pyarrow_error}; fsspec neither)") from None
    try:
        opened = fsspec.filesystem(scheme)
    except ImportError as exc:
        raise StorageError(f"{url}: the {scheme}:// file system needs a package: {exc}") from None
    base = opened._strip_protocol(url).rstrip("/")
    return fs.PyFileSystem(fs.FSSpecHandler(opened)), base


def part_outputs(stage: int, part: int) -> list[str]:
    """What `run_part` writes for a part, its done marker last."""
    base = f"stage-{stage}/part-{part:05d}"
    return [f"{base}.pkl", f"{base}.keys.pkl", f"{base}{_MARKER_SUFFIX}"]
