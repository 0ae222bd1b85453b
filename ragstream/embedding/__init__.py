from ragstream.embedding.base import Embedder
from ragstream.embedding.sentence_transformer import SentenceTransformerEmbedder, load_embedder

__all__ = ["Embedder", "SentenceTransformerEmbedder", "load_embedder"]
