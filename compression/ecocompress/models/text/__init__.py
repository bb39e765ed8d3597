"""The models over the pretrained all-MiniLM-L6-v2 sentence encoder: the encoder, its pipeline, the two kinds
(sentence embeddings, ``kind``; a topic classifier, ``topics``)."""
