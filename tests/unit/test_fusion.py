"""Hybrid result fusion: RRF and convex combination, computed by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from ragstream.exceptions import RagstreamError
from ragstream.queries.readmodels.base import Hit, IndexedChunk
from ragstream.queries.retrieval.exceptions import InvalidFusionArgument, RetrievalError
from ragstream.queries.retrieval.fusion import (
    FusedHit,
    FusionMethod,
    Normalization,
    convex_combination,
    fuse,
    paginate,
    reciprocal_rank_fusion,
)

pytestmark = pytest.mark.unit


def chunk(name: str) -> IndexedChunk:
    return IndexedChunk(tenant="t", document_id=name, version=1, chunk_number=0, text=f"text of {name}")


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(chunk(name), score) for name, score in pairs]


def names(fused: list[FusedHit]) -> list[str]:
    return [h.chunk.document_id for h in fused]


# BM25 ranks A, B, C; the vector index ranks C, A, D.
BM25 = hits(("A", 10.0), ("B", 6.0), ("C", 2.0))
VECTOR = hits(("C", 0.9), ("A", 0.5), ("D", 0.1))


class TestReciprocalRankFusion:
    def test_known_order_and_scores(self) -> None:
        fused = reciprocal_rank_fusion(BM25, VECTOR, k=60)
        expected = {
            "A": 1 / 61 + 1 / 62,  # 1st by bm25, 2nd by vector
            "C": 1 / 63 + 1 / 61,  # 3rd by bm25, 1st by vector
            "B": 1 / 62,  # bm25 only
            "D": 1 / 63,  # vector only
        }
        assert names(fused) == ["A", "C", "B", "D"]
        for hit in fused:
            assert hit.score == pytest.approx(expected[hit.chunk.document_id])

    def test_records_ranks_and_raw_scores_of_each_retriever(self) -> None:
        by_name = {h.chunk.document_id: h for h in reciprocal_rank_fusion(BM25, VECTOR)}
        assert (by_name["C"].bm25_rank, by_name["C"].bm25_score) == (3, 2.0)
        assert (by_name["C"].vector_rank, by_name["C"].vector_score) == (1, 0.9)
        assert (by_name["B"].vector_rank, by_name["B"].vector_score) == (None, None)
        assert (by_name["D"].bm25_rank, by_name["D"].bm25_score) == (None, None)
        assert by_name["D"].chunk_id == chunk("D").chunk_id

    def test_hit_from_one_retriever_only_still_appears(self) -> None:
        fused = reciprocal_rank_fusion(hits(("A", 1.0)), [])
        assert names(fused) == ["A"]
        assert fused[0].score == pytest.approx(1 / 61)
        assert names(reciprocal_rank_fusion([], hits(("Z", 0.3)))) == ["Z"]

    def test_small_k_rewards_top_ranks_more(self) -> None:
        # With k=1: A = 1/2 + 1/3 = 0.833, C = 1/4 + 1/2 = 0.75; the order holds, the gap widens.
        fused = reciprocal_rank_fusion(BM25, VECTOR, k=1)
        assert fused[0].score == pytest.approx(1 / 2 + 1 / 3)
        assert fused[1].score == pytest.approx(1 / 4 + 1 / 2)

    def test_weights_can_favour_one_retriever(self) -> None:
        assert names(reciprocal_rank_fusion(BM25, VECTOR, weights=(0.0, 1.0))) == ["C", "A", "D", "B"]
        # Doubling the vector weight: C = 1/63 + 2/61 = 0.048660 overtakes A = 1/61 + 2/62 = 0.048651.
        fused = reciprocal_rank_fusion(BM25, VECTOR, weights=(1.0, 2.0))
        assert names(fused) == ["C", "A", "D", "B"]
        assert fused[0].score == pytest.approx(1 / 63 + 2 / 61)
        assert fused[1].score == pytest.approx(1 / 61 + 2 / 62)

    def test_ties_are_broken_by_document_then_chunk_id(self) -> None:
        # Both are 1st in exactly one list: equal scores, so the ids decide, whatever the input order.
        assert names(reciprocal_rank_fusion(hits(("Y", 1.0)), hits(("X", 1.0)))) == ["X", "Y"]
        assert names(reciprocal_rank_fusion(hits(("X", 1.0)), hits(("Y", 1.0)))) == ["X", "Y"]

    def test_duplicate_within_one_list_keeps_best_rank(self) -> None:
        fused = reciprocal_rank_fusion(hits(("A", 3.0), ("A", 2.0), ("B", 1.0)), [])
        assert names(fused) == ["A", "B"]
        assert [h.bm25_rank for h in fused] == [1, 2]

    def test_empty_inputs(self) -> None:
        assert reciprocal_rank_fusion([], []) == []

    @pytest.mark.parametrize("k", [0, -1])
    def test_rejects_non_positive_k(self, k: int) -> None:
        with pytest.raises(InvalidFusionArgument, match="k must be a positive integer"):
            reciprocal_rank_fusion(BM25, VECTOR, k=k)

    @pytest.mark.parametrize("weights", [(0.0, 0.0), (-1.0, 1.0), (math.nan, 1.0)])
    def test_rejects_bad_weights(self, weights: tuple[float, float]) -> None:
        with pytest.raises(InvalidFusionArgument, match="weights"):
            reciprocal_rank_fusion(BM25, VECTOR, weights=weights)


class TestConvexCombination:
    def test_normalises_each_retriever_per_query(self) -> None:
        # bm25 10/6/2 -> 1/0.5/0 ; vector 0.9/0.5/0.1 -> 1/0.5/0 ; missing counts 0.
        fused = convex_combination(BM25, VECTOR, alpha=0.5)
        scores = {h.chunk.document_id: h.score for h in fused}
        assert scores == pytest.approx({"A": 0.75, "C": 0.5, "B": 0.25, "D": 0.0})
        assert names(fused) == ["A", "C", "B", "D"]

    def test_alpha_one_is_pure_vector_order(self) -> None:
        fused = convex_combination(BM25, VECTOR, alpha=1.0)
        assert names(fused)[:3] == [h.chunk.document_id for h in VECTOR]
        assert names(fused) == ["C", "A", "D", "B"]

    def test_alpha_zero_is_pure_bm25_order(self) -> None:
        fused = convex_combination(BM25, VECTOR, alpha=0.0)
        assert names(fused)[:3] == [h.chunk.document_id for h in BM25]
        assert names(fused) == ["A", "B", "C", "D"]

    def test_single_hit_normalises_to_one(self) -> None:
        fused = convex_combination(hits(("A", 3.7)), hits(("B", 0.2)), alpha=0.25)
        scores = {h.chunk.document_id: h.score for h in fused}
        assert scores == pytest.approx({"A": 0.75, "B": 0.25})

    def test_flat_scores_normalise_to_one(self) -> None:
        fused = convex_combination(hits(("A", 2.0), ("B", 2.0)), [], alpha=0.5)
        assert [h.score for h in fused] == pytest.approx([0.5, 0.5])
        assert names(fused) == ["A", "B"]

    def test_keeps_raw_scores(self) -> None:
        a = next(h for h in convex_combination(BM25, VECTOR) if h.chunk.document_id == "A")
        assert (a.bm25_score, a.bm25_rank, a.vector_score, a.vector_rank) == (10.0, 1, 0.5, 2)

    @pytest.mark.parametrize("alpha", [-0.1, 1.01, math.nan, math.inf])
    def test_rejects_alpha_outside_unit_interval(self, alpha: float) -> None:
        with pytest.raises(InvalidFusionArgument, match="alpha"):
            convex_combination(BM25, VECTOR, alpha=alpha)

    def test_rejects_non_finite_scores(self) -> None:
        with pytest.raises(InvalidFusionArgument, match="non-finite"):
            convex_combination(hits(("A", math.inf)), [])


class TestZScoreNormalisation:
    def test_scores_by_hand(self) -> None:
        # bm25 10/6/2: mean 6, sd sqrt(32/3) -> z = +-1.2247, 0; vector 0.9/0.5/0.1 likewise.
        # A candidate one retriever missed gets that retriever's lowest z (-1.2247).
        z = math.sqrt(1.5)
        fused = convex_combination(BM25, VECTOR, alpha=0.5, normalization="z-score")
        scores = {h.chunk.document_id: h.score for h in fused}
        assert scores == pytest.approx({"A": 0.5 * z, "C": 0.0, "B": -0.5 * z, "D": -z})
        assert names(fused) == ["A", "C", "B", "D"]

    def test_orders_by_distance_from_each_lists_mean(self) -> None:
        # The vector list has one outlier on top, which min-max counts as fully as BM25's evenly
        # spread top; z-score measures each in its own spread, and the BM25 top wins.
        bm25 = hits(("A", 5.0), ("B", 3.0), ("C", 2.0), ("D", 1.0))
        vector = hits(("D", 0.9), ("C", 0.5), ("B", 0.45), ("A", 0.4))

        def z(scores: list[float]) -> list[float]:
            mean, sd = statistics.fmean(scores), statistics.pstdev(scores)
            return [(x - mean) / sd for x in scores]

        zb = dict(zip("ABCD", z([5.0, 3.0, 2.0, 1.0]), strict=True))
        zv = dict(zip("DCBA", z([0.9, 0.5, 0.45, 0.4]), strict=True))
        expected = {d: 0.5 * zb[d] + 0.5 * zv[d] for d in "ABCD"}
        fused = convex_combination(bm25, vector, alpha=0.5, normalization="z-score")
        assert {h.chunk.document_id: h.score for h in fused} == pytest.approx(expected)
        assert names(fused) == ["A", "D", "B", "C"]
        assert names(convex_combination(bm25, vector, alpha=0.5)) == ["D", "A", "B", "C"]

    def test_flat_list_counts_fully(self) -> None:
        fused = convex_combination(hits(("A", 2.0), ("B", 2.0)), [], alpha=0.5, normalization="z-score")
        assert [h.score for h in fused] == pytest.approx([0.5, 0.5])

    def test_unknown_normalisation_is_rejected(self) -> None:
        with pytest.raises(InvalidFusionArgument, match="unknown normalization 'l2'"):
            fuse("convex", BM25, VECTOR, normalization="l2")

    def test_fuse_passes_it_through(self) -> None:
        assert fuse("convex", BM25, VECTOR, alpha=0.3, normalization=Normalization.Z_SCORE) == (
            convex_combination(BM25, VECTOR, alpha=0.3, normalization="z-score")
        )


class TestFuse:
    @pytest.mark.parametrize("method", [FusionMethod.RRF, "rrf"])
    def test_dispatches_to_rrf(self, method: FusionMethod | str) -> None:
        assert fuse(method, BM25, VECTOR, rrf_k=10) == reciprocal_rank_fusion(BM25, VECTOR, k=10)

    @pytest.mark.parametrize("method", [FusionMethod.CONVEX, "convex"])
    def test_dispatches_to_convex(self, method: FusionMethod | str) -> None:
        assert fuse(method, BM25, VECTOR, alpha=0.2) == convex_combination(BM25, VECTOR, alpha=0.2)

    def test_unknown_method_is_a_value_error(self) -> None:
        with pytest.raises(InvalidFusionArgument, match="unknown fusion method 'max'") as info:
            fuse("max", BM25, VECTOR)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, RetrievalError)
        assert isinstance(info.value, RagstreamError)

    def test_arguments_are_validated_through_fuse(self) -> None:
        with pytest.raises(InvalidFusionArgument):
            fuse("convex", BM25, VECTOR, alpha=2.0)
        with pytest.raises(InvalidFusionArgument):
            fuse("rrf", BM25, VECTOR, rrf_k=0)


class TestPaginate:
    ITEMS = list(range(10))

    @pytest.mark.parametrize(
        ("offset", "limit", "expected"),
        [
            (0, 3, [0, 1, 2]),
            (3, 3, [3, 4, 5]),
            (9, 3, [9]),
            (10, 3, []),
            (50, 5, []),
            (0, 100, list(range(10))),
        ],
    )
    def test_pages(self, offset: int, limit: int, expected: list[int]) -> None:
        assert paginate(self.ITEMS, offset, limit) == expected

    def test_pages_fused_hits(self) -> None:
        fused = reciprocal_rank_fusion(BM25, VECTOR)
        assert names(paginate(fused, 1, 2)) == ["C", "B"]

    @pytest.mark.parametrize(("offset", "limit"), [(-1, 5), (0, 0), (0, -3)])
    def test_rejects_bad_bounds(self, offset: int, limit: int) -> None:
        with pytest.raises(InvalidFusionArgument):
            paginate(self.ITEMS, offset, limit)


class TestDocumentsAcrossChunks:
    """The keyword list ranks documents (each hit a document's best chunk); the vector list ranks
    chunks. A document's evidence from both must add up, whichever chunk each retriever cited."""

    @staticmethod
    def part(document: str, number: int) -> IndexedChunk:
        return IndexedChunk("t", document, 1, number, f"{document} part {number}")

    @pytest.mark.parametrize("method", ["rrf", "convex"])
    def test_keyword_hit_joins_its_documents_best_vector_chunk(self, method: str) -> None:
        keyword = [Hit(self.part("A", 0), 9.0), Hit(self.part("B", 0), 5.0)]
        vector = [Hit(self.part("B", 3), 0.9), Hit(self.part("A", 2), 0.8), Hit(self.part("A", 1), 0.7)]
        fused = fuse(method, keyword, vector)

        top = fused[0]
        # A is first for BM25 and second for vectors: one entry, citing the closest chunk A#2.
        assert (top.chunk.document_id, top.chunk.chunk_number) == ("A", 2)
        assert (top.bm25_rank, top.vector_rank) == (1, 2)
        # The document's other vector chunk keeps its own vector evidence only.
        [other] = [h for h in fused if h.chunk.chunk_number == 1]
        assert other.bm25_rank is None and other.vector_rank == 3
        # No keyword chunk is listed beside the vector chunk that took its evidence.
        assert {(h.chunk.document_id, h.chunk.chunk_number) for h in fused} == {("A", 2), ("A", 1), ("B", 3)}

    def test_keyword_hit_of_a_document_the_vectors_missed_keeps_its_own_chunk(self) -> None:
        fused = fuse("rrf", [Hit(self.part("A", 4), 3.0)], [Hit(self.part("B", 0), 0.9)])
        assert {(h.chunk.document_id, h.chunk.chunk_number) for h in fused} == {("A", 4), ("B", 0)}

    def test_keyword_evidence_goes_to_the_documents_best_vector_chunk_even_if_it_cited_another(self) -> None:
        keyword = [Hit(self.part("A", 1), 3.0)]
        fused = fuse("rrf", keyword, [Hit(self.part("A", 0), 0.9), Hit(self.part("A", 1), 0.5)])
        assert [(h.chunk.chunk_number, h.bm25_rank, h.vector_rank) for h in fused] == [
            (0, 1, 1),
            (1, None, 2),
        ]


class TestSiblingSupport:
    """Convex fusion with a sibling weight: a document's further vector hits add to its best one."""

    @staticmethod
    def part(document: str, number: int, tenant: str = "t") -> IndexedChunk:
        return IndexedChunk(tenant, document, 1, number, f"{document} part {number}")

    def vector(self) -> list[Hit]:
        # A's best chunk is below B's, but two more of A's chunks match the query too.
        return [
            Hit(self.part("B", 0), 1.0),
            Hit(self.part("A", 0), 0.9),
            Hit(self.part("A", 1), 0.8),
            Hit(self.part("A", 2), 0.6),
            Hit(self.part("C", 0), 0.5),
        ]

    def test_scores_by_hand(self) -> None:
        fused = convex_combination([], self.vector(), alpha=1.0, sibling_weight=0.5)
        by_chunk = {(h.chunk.document_id, h.chunk.chunk_number): h.score for h in fused}
        # min-max over the list: B 1.0, A#0 0.8, A#1 0.6, A#2 0.2, C 0.0; A#0 gains 0.5 * (0.6 + 0.2).
        assert by_chunk[("A", 0)] == pytest.approx(0.8 + 0.5 * 0.8)
        assert by_chunk[("B", 0)] == pytest.approx(1.0)
        # The further chunks keep their own scores: they are cited by nobody else.
        assert by_chunk[("A", 1)] == pytest.approx(0.6) and by_chunk[("A", 2)] == pytest.approx(0.2)
        assert names(fused)[:2] == ["A", "B"]

    def test_zero_weight_is_the_plain_combination(self) -> None:
        plain = convex_combination(BM25, self.vector(), alpha=0.4)
        assert convex_combination(BM25, self.vector(), alpha=0.4, sibling_weight=0.0) == plain
        assert [h.score for h in plain] != [
            h.score for h in convex_combination(BM25, self.vector(), alpha=0.4, sibling_weight=0.2)
        ]

    def test_z_score_support_counts_from_the_lists_floor(self) -> None:
        # Every further chunk adds, however low: it is still above a chunk the list did not hold.
        low = [
            Hit(self.part("B", 0), 1.0),
            Hit(self.part("A", 0), 0.99),
            Hit(self.part("A", 1), 0.5),
            Hit(self.part("C", 0), 0.0),
        ]
        plain = convex_combination([], low, alpha=1.0, normalization="z-score")
        supported = convex_combination([], low, alpha=1.0, normalization="z-score", sibling_weight=0.1)
        assert names(plain)[0] == "B" and names(supported)[0] == "A"

    def test_documents_of_two_tenants_are_never_siblings(self) -> None:
        vector = [
            Hit(self.part("B", 0), 1.0),
            Hit(self.part("A", 0, "t1"), 0.9),
            Hit(self.part("A", 1, "t2"), 0.8),
        ]
        fused = convex_combination([], vector, alpha=1.0, sibling_weight=1.0)
        assert [h.score for h in fused] == pytest.approx([1.0, 0.5, 0.0])

    def test_keyword_evidence_and_support_land_on_the_same_entry(self) -> None:
        fused = fuse("convex", [Hit(self.part("A", 2), 5.0)], self.vector(), alpha=0.5, sibling_weight=0.5)
        top = fused[0]
        assert (top.chunk.document_id, top.chunk.chunk_number, top.bm25_rank) == ("A", 0, 1)
        assert top.score == pytest.approx(0.5 * (0.8 + 0.5 * 0.8) + 0.5 * 1.0)

    def test_rrf_ignores_it(self) -> None:
        assert fuse("rrf", BM25, self.vector(), sibling_weight=0.7) == fuse("rrf", BM25, self.vector())

    @pytest.mark.parametrize("weight", [-0.1, 1.5, math.nan, math.inf])
    def test_rejects_a_weight_outside_the_unit_interval(self, weight: float) -> None:
        with pytest.raises(InvalidFusionArgument, match="sibling weight"):
            convex_combination(BM25, self.vector(), alpha=0.5, sibling_weight=weight)
