"""The models that own live I/O (the WebSocket session, the video stream) and tie the Qt-free sub-models together."""
