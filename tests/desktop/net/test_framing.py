"""The control path's own text frames, read by websockets' server side as any client's."""

from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

from teleop.desktop.net.framing import masked_text_frame


def test_a_server_reads_each_frame_as_the_text_sent_at_every_length_boundary():
    server = Protocol(Side.SERVER, state=State.OPEN, max_size=None)  # past the handshake, as websockets' server is
    texts = ["", "x" * 125, "é" * 63, "y" * 126, "z" * 65535, "w" * 65536, '{"type":"control","seq":1}']
    server.receive_data(b"".join(masked_text_frame(text.encode()) for text in texts))
    frames = server.events_received()
    assert [(frame.opcode, frame.fin, frame.data.decode()) for frame in frames] == [(Opcode.TEXT, True, text) for text in texts]
    assert server.state is State.OPEN and server.data_to_send() == []  # no close for a protocol error


def test_every_frame_has_a_masking_key_of_its_own():
    frames = [masked_text_frame(b"same text") for _ in range(50)]
    keys = {frame[2:6] for frame in frames}
    assert len(keys) > 45
    assert all(frame[1] & 0x80 for frame in frames)
