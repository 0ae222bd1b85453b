from streams.embedding.base import Embedder
from streams.embedding.sentence_transformer import SentenceTransformerEmbedder, load_embedder

__all__ = ["Embedder", "SentenceTransformerEmbedder", "load_embedder"]
