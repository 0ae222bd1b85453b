from ragstream.streams.embedding.base import Embedder
from ragstream.streams.embedding.sentence_transformer import SentenceTransformerEmbedder, load_embedder

__all__ = ["Embedder", "SentenceTransformerEmbedder", "load_embedder"]
