"""data_prep.fetch with a fake opener: verification, skipping, clean failures. No network."""
from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from data_prep import fetch
from data_prep.fetch import (
    DATASETS, DownloadError, FileSpec, VerificationError, fetch_dataset, fetch_file, verify_dir, verify_file,
)

PAYLOAD = b'[{"title": "fake", "sents": [["a"]], "vertexSet": []}]\n'
OTHER = b'[{"title": "evil", "sents": [["b"]], "vertexSet": []}]\n'  # same length, other bytes
assert len(PAYLOAD) == len(OTHER)
URL = "https://example.invalid/data/fake.json"


def spec(name: str = "fake.json", data: bytes = PAYLOAD, sha: bool = True) -> FileSpec:
    return FileSpec(name, URL.replace("fake.json", name), len(data),
                    hashlib.sha256(data).hexdigest() if sha else None, f"download {name} from the example page")


class FakeOpener:
    """Serves fixed bytes per URL and records the requests."""

    def __init__(self, served: dict[str, bytes] | bytes) -> None:
        self.served = served
        self.calls: list[str] = []

    def __call__(self, url: str, timeout: float) -> io.BytesIO:
        self.calls.append(url)
        data = self.served if isinstance(self.served, bytes) else self.served[url]
        return io.BytesIO(data)


def failing_opener(exc: BaseException) -> Callable[[str, float], io.BytesIO]:
    def opener(url: str, timeout: float) -> io.BytesIO:
        raise exc
    return opener


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------- success
def test_download_verifies_and_second_run_skips(tmp_path: Path) -> None:
    opener, logs = FakeOpener(PAYLOAD), []
    [path] = fetch_dataset("fake", tmp_path, opener=opener, log=logs.append, specs=[spec()])
    assert path == tmp_path / "fake.json" and path.read_bytes() == PAYLOAD
    assert listing(tmp_path) == ["fake.json"]  # no temporary file left
    assert opener.calls == [URL]
    assert any("verified" in line for line in logs)
    again = FakeOpener(b"must not be read")
    fetch_dataset("fake", tmp_path, opener=again, log=logs.append, specs=[spec()])
    assert again.calls == [] and "present and verified, skipped" in logs[-1]


def test_size_only_spec_prints_the_computed_sha256(tmp_path: Path) -> None:
    logs: list[str] = []
    fetch_file(spec(sha=False), tmp_path, opener=FakeOpener(PAYLOAD), log=logs.append)
    assert hashlib.sha256(PAYLOAD).hexdigest() in logs[-1] and "size verified" in logs[-1]


def test_present_but_damaged_file_is_downloaded_again(tmp_path: Path) -> None:
    (tmp_path / "fake.json").write_bytes(OTHER)
    logs: list[str] = []
    fetch_file(spec(), tmp_path, opener=FakeOpener(PAYLOAD), log=logs.append)
    assert (tmp_path / "fake.json").read_bytes() == PAYLOAD
    assert "does not verify" in logs[0]


# -------------------------------------------------------------------- mismatch
def test_wrong_sha256_raises_expected_vs_got_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(VerificationError) as info:
        fetch_file(spec(), tmp_path, opener=FakeOpener(OTHER), log=lambda _: None)
    msg = str(info.value)
    assert URL in msg
    assert f"expected {hashlib.sha256(PAYLOAD).hexdigest()}" in msg
    assert f"is {hashlib.sha256(OTHER).hexdigest()}" in msg
    assert listing(tmp_path) == []


@pytest.mark.parametrize("served", [PAYLOAD[:-5], PAYLOAD + b"extra bytes"])
def test_wrong_size_raises_and_leaves_nothing(tmp_path: Path, served: bytes) -> None:
    with pytest.raises(VerificationError, match=f"expected {len(PAYLOAD):,} bytes"):
        fetch_file(spec(), tmp_path, opener=FakeOpener(served), log=lambda _: None)
    assert listing(tmp_path) == []


def test_html_page_instead_of_file_is_explained(tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><html><body>Google Drive - quota exceeded</body></html>"
    with pytest.raises(VerificationError, match="web page instead of the file") as info:
        fetch_file(spec(), tmp_path, opener=FakeOpener(page), log=lambda _: None)
    assert "download fake.json from the example page" in str(info.value)
    assert listing(tmp_path) == []


# --------------------------------------------------------------------- offline
def test_offline_error_names_url_and_manual_route(tmp_path: Path) -> None:
    opener = failing_opener(urllib.error.URLError(OSError(-3, "Temporary failure in name resolution")))
    with pytest.raises(DownloadError) as info:
        fetch_dataset("fake", tmp_path / "fake", opener=opener, log=lambda _: None, specs=[spec()])
    msg = str(info.value)
    assert URL in msg and "Temporary failure in name resolution" in msg
    assert "download fake.json from the example page" in msg and str(tmp_path / "fake" / "fake.json") in msg
    assert listing(tmp_path / "fake") == []


def test_unreachable_server_stops_the_dataset_but_http_errors_do_not(tmp_path: Path) -> None:
    calls: list[str] = []

    def offline(url: str, timeout: float) -> io.BytesIO:
        calls.append(url)
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    with pytest.raises(DownloadError, match="Not tried, since they come from the same server: b.json"):
        fetch_dataset("fake", tmp_path, opener=offline, log=lambda _: None, specs=[spec("a.json"), spec("b.json")])
    assert len(calls) == 1

    def missing(url: str, timeout: float) -> io.BytesIO:
        calls.append(url)
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]

    calls.clear()
    with pytest.raises(DownloadError, match="2 of 2 fake files failed") as info:
        fetch_dataset("fake", tmp_path, opener=missing, log=lambda _: None, specs=[spec("a.json"), spec("b.json")])
    assert len(calls) == 2 and "a.json" in str(info.value) and "b.json" in str(info.value)


def test_http_error_and_dropped_connection(tmp_path: Path) -> None:
    not_found = urllib.error.HTTPError(URL, 404, "Not Found", {}, None)  # type: ignore[arg-type]
    with pytest.raises(DownloadError, match="HTTP 404 Not Found"):
        fetch_file(spec(), tmp_path, opener=failing_opener(not_found), log=lambda _: None)

    class Dropping(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(DownloadError, match="Connection reset by peer"):
        fetch_file(spec(), tmp_path, opener=lambda url, timeout: Dropping(), log=lambda _: None)
    assert listing(tmp_path) == []


def test_cli_offline_exits_2_without_traceback(tmp_path: Path, monkeypatch, capsys) -> None:
    def no_network(request, timeout=None):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert fetch.main(["docred", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    first = DATASETS["docred"].files[0]
    assert err.startswith("error: could not download ") and first.url in err
    assert "drive.google.com/drive/folders" in err and "Traceback" not in err
    assert listing(tmp_path / "docred") == []


def test_unknown_dataset() -> None:
    with pytest.raises(fetch.FetchError, match="unknown dataset"):
        fetch_dataset("nope", "unused")


# ---------------------------------------------------------------------- verify
def test_verify_file_and_verify_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    good, bad = spec("good.json"), spec("bad.json")
    (tmp_path / "good.json").write_bytes(PAYLOAD)
    (tmp_path / "bad.json").write_bytes(OTHER)
    assert verify_file(tmp_path / "good.json", good) == good.sha256
    with pytest.raises(VerificationError, match=f"sha256 {hashlib.sha256(OTHER).hexdigest()}, expected {bad.sha256}"):
        verify_file(tmp_path / "bad.json", bad)
    with pytest.raises(VerificationError, match="size 0 bytes, expected"):
        (tmp_path / "empty.json").write_bytes(b"")
        verify_file(tmp_path / "empty.json", good)
    with pytest.raises(VerificationError, match="cannot read"):
        verify_file(tmp_path / "missing.json", good)

    table = {"fake": fetch.DatasetSpec("fake", "fake data", (good, bad, spec("absent.json")))}
    monkeypatch.setattr(fetch, "DATASETS", table)
    results = {r.path.name: r.ok for r in verify_dir(tmp_path)}
    assert results == {"good.json": True, "bad.json": False}  # absent files are not reported
    assert fetch.main(["verify", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert "good.json: ok" in out.out and "MISMATCH" in out.err
    (tmp_path / "bad.json").unlink()
    assert fetch.main(["verify", str(tmp_path)]) == 0
    assert fetch.main(["verify", str(tmp_path / "nothing")]) == 2
    assert "no DocRED or Re-DocRED files found" in capsys.readouterr().err


def test_table_matches_the_known_values() -> None:
    files = {f.name: f for d in DATASETS.values() for f in d.files}
    assert files["test.json"].size == 3_674_242
    assert files["dev_revised.json"].sha256 == "051ee1d057204a5d08ef5502beacdadf191245b5eaf0e29ec2c607cf002c016f"
    assert files["train_annotated.json"].sha256 is None and files["train_annotated.json"].size == 13_029_595
    assert all(f.url.startswith("https://") for f in files.values())


DATA_DIR = os.environ.get("DOCRE_DATA_DIR")


@pytest.mark.skipif(not DATA_DIR, reason="set DOCRE_DATA_DIR to the shared data folder (redocred/, docred/) to verify real files")
@pytest.mark.parametrize("dataset, name", [("redocred", "dev_revised.json"), ("docred", "test.json")])
def test_real_files_verify(dataset: str, name: str) -> None:
    path = Path(DATA_DIR) / dataset / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    [file_spec] = [f for f in DATASETS[dataset].files if f.name == name]
    assert verify_file(path, file_spec) == file_spec.sha256
