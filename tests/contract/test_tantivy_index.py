"""The keyword contract against tantivy, plus what only the tantivy backend promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragstream.queries.readmodels.base import KeywordIndex, SearchFilter, SearchIndex
from ragstream.queries.readmodels.exceptions import (
    IndexLockedError,
    IndexUnavailableError,
    ReadModelError,
    ReadOnlyIndexError,
)
from ragstream.queries.readmodels.tantivy_index import DOCUMENTS_FOLDER, TantivyKeywordIndex
from tests.contract.keyword_contract import KeywordIndexContract
from tests.contract.search_contract import TENANT

pytestmark = pytest.mark.contract


class TestTantivyKeywordIndex(KeywordIndexContract):
    def make_index(self, path: Path) -> KeywordIndex:
        return TantivyKeywordIndex(path)

    def make_reader(self, path: Path) -> KeywordIndex:
        return TantivyKeywordIndex.open_readonly(path)

    def test_reader_rejects_writes(self, index: SearchIndex, index_path: Path) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"))
        reader = TantivyKeywordIndex.open_readonly(index_path)
        try:
            with pytest.raises(ReadOnlyIndexError):
                reader.replace_document(TENANT, "doc-2", [self.chunk("doc-2", 0, "apples")])
            with pytest.raises(ReadOnlyIndexError):
                reader.delete_document(TENANT, "doc-1")
            with pytest.raises(ReadOnlyIndexError):
                reader.update_access(TENANT, "doc-1", {}, [])
            reader.flush()  # Only reloads: harmless on a reader.
        finally:
            reader.close()
        assert index.count() == 1

    def test_second_writer_fails_clearly(self, index: SearchIndex, index_path: Path) -> None:
        with pytest.raises(IndexLockedError):
            TantivyKeywordIndex(index_path)

    def test_closing_the_writer_releases_the_lock(self, index: SearchIndex, index_path: Path) -> None:
        index.close()
        TantivyKeywordIndex(index_path).close()

    def test_reader_needs_an_existing_index(self, tmp_path: Path) -> None:
        with pytest.raises(IndexUnavailableError):
            TantivyKeywordIndex.open_readonly(tmp_path / "missing")
        assert not (tmp_path / "missing").exists()

    def test_use_after_close_raises(self, index: SearchIndex) -> None:
        index.close()
        assert isinstance(index, KeywordIndex)
        with pytest.raises(ReadModelError):
            index.search("apples", SearchFilter(TENANT), 5)

    def test_reader_in_another_process_sees_flushed_writes(
        self, index: SearchIndex, index_path: Path
    ) -> None:
        self.put(index, self.chunk("doc-1", 0, "apples"), self.chunk("doc-2", 0, "apples"))
        script = textwrap.dedent(
            f"""
            from pathlib import Path
            from ragstream.queries.readmodels.base import SearchFilter
            from ragstream.queries.readmodels.tantivy_index import DOCUMENTS_FOLDER, TantivyKeywordIndex

            reader = TantivyKeywordIndex.open_readonly(Path({str(index_path)!r}))
            print(len(reader.search("apples", SearchFilter({TENANT!r}), 10)))
            """
        )
        # The writer stays open in this process, holding the directory's writer lock.
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "2"

    def test_an_index_without_documents_gets_them_built_on_open(self, index_path: Path) -> None:
        # Keyword indexes written before documents were ranked hold chunks only; the first writable
        # open builds the document index from them, so an upgraded node searches at once.
        index = TantivyKeywordIndex(index_path)
        self.put(index, self.chunk("doc-1", 0, "apples"), self.chunk("doc-1", 1, "apples", weak=True))
        self.put(index, self.chunk("doc-2", 0, "bananas"))
        index.close()
        shutil.rmtree(index_path / DOCUMENTS_FOLDER)

        reopened = TantivyKeywordIndex(index_path)
        try:
            assert [h.chunk.chunk_id for h in reopened.search("apples", SearchFilter(TENANT), 10)] == [
                "doc-1#v1#c0"
            ]
            assert reopened.count() == 3
        finally:
            reopened.close()
