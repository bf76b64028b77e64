"""Download DocRED and Re-DocRED and check every file's size and sha256.

Usage::

    python -m data_prep.fetch docred --out data      # -> data/docred/*.json
    python -m data_prep.fetch redocred --out data    # -> data/redocred/*.json
    python -m data_prep.fetch all --out data
    python -m data_prep.fetch verify data            # check the files that are present

A file that is already present and verifies is not downloaded again. A download goes to a
temporary file beside the target and is renamed only after its size and sha256 match,
so a failed or altered download never leaves a file behind. Without network access the
command says which URL failed and where to get the file by hand, and exits with code 2.

Only the standard library is used (``urllib``). Tests inject ``opener``.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Sequence, Union

from docre.errors import DocreError
from docre.utils.io import atomic_path

PathLike = Union[str, Path]
#: ``opener(url, timeout)`` returns a readable binary response (a context manager).
Opener = Callable[[str, float], BinaryIO]
Log = Callable[[str], None]

CHUNK_BYTES = 1 << 20
DEFAULT_TIMEOUT_S = 60.0
USER_AGENT = "docre-data-prep/1 (python urllib)"

DOCRED_DRIVE_FOLDER = "https://drive.google.com/drive/folders/1c5-0YwnoJx8NS6CV2f-NoTHR__BdkNqw"
DOCRED_PAGE = "https://github.com/thunlp/DocRED/tree/master/data"
REDOCRED_RAW = "https://raw.githubusercontent.com/tonytan48/Re-DocRED/main/data"
REDOCRED_PAGE = "https://github.com/tonytan48/Re-DocRED/tree/main/data"


def _drive(file_id: str) -> str:
    return f"https://drive.google.com/uc?export=download&id={file_id}"


class FetchError(DocreError):
    """A dataset file could not be downloaded or does not verify."""


class DownloadError(FetchError):
    """The network request failed (offline, HTTP error, connection dropped).

    ``unreachable`` is True when no HTTP answer came at all (no network, DNS failure,
    refused connection): other files from the same host will fail the same way.
    """

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


class VerificationError(FetchError):
    """A file's size or sha256 differs from the expected value."""


@dataclass(frozen=True)
class FileSpec:
    """One dataset file: where it comes from and what it must hash to.

    ``sha256`` may be ``None`` when no trusted value is known: then only the size is
    checked and the computed digest is printed.
    """

    name: str
    url: str
    size: int
    sha256: Optional[str]
    manual: str  # where a person downloads it by hand


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    files: tuple[FileSpec, ...]


def _docred_manual(name: str) -> str:
    return f"download {name} from the Google Drive folder {DOCRED_DRIVE_FOLDER} (linked from {DOCRED_PAGE})"


def _redocred_manual(name: str) -> str:
    return f"download {name} from {REDOCRED_PAGE} (open the file, then 'Download raw file')"

# The Google Drive file ids are those of the official DocRED release; sizes and sha256
# are the known values of the official files (the same as recorded by the Hugging Face
# `docred` loader). For train_annotated.json only the size is pinned here; that loader
# records sha256 7e706348a02cf91f38bd8c379f934ab61aedadc901fca10d962c1d82ab78e95b for it,
# which has not been checked against a copy on this project's machines.
DATASETS: dict[str, DatasetSpec] = {
    "docred": DatasetSpec("docred", "DocRED (Yao et al., ACL 2019), human-annotated part", (
        FileSpec("train_annotated.json", _drive("1NN33RzyETbanw4Dg2sRrhckhWpzuBQS9"), 13_029_595, None,
                 _docred_manual("train_annotated.json")),
        FileSpec("dev.json", _drive("1AHUm1-_V9GCtGuDcc8XrMUCJE8B-HHoL"), 4_287_303,
                 "4554f7487a6fda3bab4d4e59432e065b7485dfb885bd7f05fd60fc7e93ee7e3e", _docred_manual("dev.json")),
        FileSpec("test.json", _drive("1lAVDcD94Sigx7gR3jTfStI66o86cflum"), 3_674_242,
                 "09386b5cb58249d8e087863c379ebd64557169c52ee502193d2f4f215e704ae8", _docred_manual("test.json")),
        FileSpec("rel_info.json", _drive("1y9A0zKrvETc1ddUFuFhBg3Xfr7FEL4dW"), 2_452,
                 "5ecf4e5e55c179fc83a3a3d19baa01efffecb26ba5edc0b4ac5a54ddf61fe3de", _docred_manual("rel_info.json")),
    )),
    "redocred": DatasetSpec("redocred", "Re-DocRED (Tan et al., EMNLP 2022)", (
        FileSpec("train_revised.json", f"{REDOCRED_RAW}/train_revised.json", 18_602_933,
                 "c40a137a1c57f3e2daaf5ebf511eaa1518f9305ffaa3052d46271921a91826f2", _redocred_manual("train_revised.json")),
        FileSpec("dev_revised.json", f"{REDOCRED_RAW}/dev_revised.json", 3_245_588,
                 "051ee1d057204a5d08ef5502beacdadf191245b5eaf0e29ec2c607cf002c016f", _redocred_manual("dev_revised.json")),
        FileSpec("test_revised.json", f"{REDOCRED_RAW}/test_revised.json", 3_207_228,
                 "ea673b7ef91e16510d7eb88863d3903e47318dc5653ef361266f27ae3b84723c", _redocred_manual("test_revised.json")),
    )),
}


# ------------------------------------------------------------------ verification
def sha256_of(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: PathLike, spec: FileSpec) -> str:
    """Check ``path`` against ``spec``; return its sha256 (hex).

    Raises:
        VerificationError: the file is missing, or its size or sha256 differs
            (the message gives expected and actual values).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise VerificationError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size != spec.size:
        raise VerificationError(f"{path}: size {size:,} bytes, expected {spec.size:,} bytes")
    digest = sha256_of(path)
    if spec.sha256 is not None and digest != spec.sha256.lower():
        raise VerificationError(f"{path}: sha256 {digest}, expected {spec.sha256}")
    return digest


# ---------------------------------------------------------------------- download
def urlopen_with_agent(url: str, timeout: float) -> BinaryIO:
    """The default opener: ``urllib.request.urlopen`` with a User-Agent header."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (fixed https URLs)


_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip()[:15].lower()
    return start.startswith(b"<!doctype html") or start.startswith(b"<html")


def _download_error(spec: FileSpec, target: Path, exc: BaseException) -> DownloadError:
    if isinstance(exc, urllib.error.HTTPError):
        reason: object = f"HTTP {exc.code} {exc.reason}"
    else:
        reason = getattr(exc, "reason", None) or exc
    unreachable = isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)
    return DownloadError(
        f"could not download {spec.url} ({reason}). "
        f"To get it by hand: {spec.manual}, and save it as {target}; "
        f"then check it with: python -m data_prep.fetch verify {target.parent}",
        unreachable=unreachable,
    )


def _stream_to(spec: FileSpec, target: Path, tmp: Path, opener: Opener, timeout: float) -> str:
    """Copy the response for ``spec.url`` into ``tmp``; return the sha256 after checking size and digest."""
    digest, size, head = hashlib.sha256(), 0, b""
    with open(tmp, "wb") as out:
        try:
            response = opener(spec.url, timeout)
        except _NETWORK_ERRORS as exc:
            raise _download_error(spec, target, exc) from exc
        with response:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except _NETWORK_ERRORS as exc:
                    raise _download_error(spec, target, exc) from exc
                if not chunk:
                    break
                if len(head) < 64:
                    head += chunk[:64]
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if size > spec.size:
                    break
    hint = ""
    if _looks_like_html(head):
        hint = (" The server sent a web page instead of the file (Google Drive does this for quota or "
                f"confirmation pages). To get it by hand: {spec.manual}, and save it as {target}.")
    if size != spec.size:
        more = "more than" if size > spec.size else f"{size:,} bytes,"
        raise VerificationError(
            f"{spec.url}: received {more} expected {spec.size:,} bytes for {spec.name}; nothing was saved.{hint}"
        )
    got = digest.hexdigest()
    if spec.sha256 is not None and got != spec.sha256.lower():
        raise VerificationError(
            f"{spec.url}: sha256 of {spec.name} is {got}, expected {spec.sha256}; the download was deleted.{hint}"
        )
    return got


def fetch_file(
    spec: FileSpec,
    out_dir: PathLike,
    opener: Opener = urlopen_with_agent,
    log: Log = print,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Make sure ``out_dir/spec.name`` exists and verifies, downloading it if needed.

    Raises:
        DownloadError: the request failed (message names the URL and the manual route).
        VerificationError: the downloaded bytes do not match ``spec`` (nothing is saved).
    """
    target = Path(out_dir) / spec.name
    if target.exists():
        try:
            verify_file(target, spec)
        except VerificationError as exc:
            log(f"{target}: present but does not verify ({exc}); downloading again")
        else:
            log(f"{target}: present and verified, skipped")
            return target
    log(f"{spec.name}: downloading {spec.url} ({spec.size:,} bytes)")
    with atomic_path(target) as tmp:
        digest = _stream_to(spec, target, tmp, opener, timeout)
    if spec.sha256 is None:
        log(f"{target}: size verified; sha256 {digest} (no reference value to compare with)")
    else:
        log(f"{target}: verified (sha256 {digest})")
    return target


def fetch_dataset(
    name: str,
    out_dir: PathLike,
    opener: Opener = urlopen_with_agent,
    log: Log = print,
    specs: Optional[Sequence[FileSpec]] = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[Path]:
    """Download every file of dataset ``name`` ("docred" or "redocred") into ``out_dir``.

    ``specs`` replaces the dataset's file table (tests use small fake files). Every file
    is tried; failures are raised together at the end (a single failure as itself).
    Files already fetched stay and are skipped on the next run.
    """
    if specs is None:
        if name not in DATASETS:
            raise FetchError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
        specs = DATASETS[name].files
    paths: list[Path] = []
    failures: list[FetchError] = []
    for i, spec in enumerate(specs):
        try:
            paths.append(fetch_file(spec, out_dir, opener=opener, log=log, timeout=timeout))
        except FetchError as exc:
            failures.append(exc)
            if isinstance(exc, DownloadError) and exc.unreachable:
                rest = [s.name for s in specs[i + 1:]]
                if rest:  # same host: they would fail the same way
                    exc.args = (f"{exc}. Not tried, since they come from the same server: {', '.join(rest)}.",)
                break
    if len(failures) == 1:
        raise failures[0]
    if failures:
        kinds = {type(f) for f in failures}
        cls = kinds.pop() if len(kinds) == 1 else FetchError
        raise cls(f"{len(failures)} of {len(specs)} {name} files failed:\n" + "\n".join(f"  {f}" for f in failures))
    return paths


@dataclass(frozen=True)
class VerifyResult:
    path: Path
    spec: FileSpec
    ok: bool
    message: str


def verify_dir(directory: PathLike) -> list[VerifyResult]:
    """Verify every known dataset file present in ``directory`` or its ``docred/`` and
    ``redocred/`` sub-folders. Missing files are not reported."""
    directory = Path(directory)
    results = []
    for dataset in DATASETS.values():
        for spec in dataset.files:
            for path in (directory / dataset.name / spec.name, directory / spec.name):
                if not path.is_file():
                    continue
                try:
                    digest = verify_file(path, spec)
                except VerificationError as exc:
                    results.append(VerifyResult(path, spec, False, str(exc)))
                else:
                    note = "" if spec.sha256 else " (size only; no reference sha256)"
                    results.append(VerifyResult(path, spec, True, f"{path}: ok, sha256 {digest}{note}"))
    return results


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.fetch",
        description="Download DocRED / Re-DocRED into DIR/docred and DIR/redocred and verify size and sha256, "
                    "or verify files already there.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{docred,redocred,all,verify}")
    for name, help_text, where in (
        ("docred", "DocRED: train_annotated.json, dev.json, test.json, rel_info.json (Google Drive)", "DIR/docred/"),
        ("redocred", "Re-DocRED: train_revised.json, dev_revised.json, test_revised.json (GitHub)", "DIR/redocred/"),
        ("all", "both of the above", "DIR/docred/ and DIR/redocred/"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--out", required=True, type=Path, metavar="DIR",
                       help=f"data root, e.g. data/ in the repository (git-ignored); files go to {where}")
        p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                       help="seconds to wait for the server on each request (default: %(default)s)")
    v = sub.add_parser("verify", help="check the size and sha256 of the dataset files present in DIR",
                       description="Check every known file found in DIR, DIR/docred or DIR/redocred; download nothing.")
    v.add_argument("dir", type=Path, metavar="DIR", help="a data root or a dataset folder")
    return parser


def _log(message: str) -> None:
    print(message, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "verify":
            results = verify_dir(args.dir)
            if not results:
                print(f"error: no DocRED or Re-DocRED files found in {args.dir} (or its docred/, redocred/ folders)",
                      file=sys.stderr)
                return 2
            for r in results:
                print(r.message if r.ok else f"MISMATCH {r.message}", file=sys.stdout if r.ok else sys.stderr)
            return 0 if all(r.ok for r in results) else 2
        names = sorted(DATASETS) if args.command == "all" else [args.command]
        failed = False
        for name in names:
            _log(f"== {DATASETS[name].description} -> {args.out / name}")
            try:
                fetch_dataset(name, args.out / name, log=_log, timeout=args.timeout)
            except DocreError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed = True
        return 2 if failed else 0
    except DocreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no partial file was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
