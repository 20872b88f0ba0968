"""Build tools: the shipped workflow files, thumbnails, the icon, the MediaPipe conversion and its references."""
