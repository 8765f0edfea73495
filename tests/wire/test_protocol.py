"""The wire protocol: what clients may send, and what a bad message gets back."""

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from teleop.wire import protocol
from teleop.wire.layout import Layout
from teleop.wire.protocol import Control, ErrorCode, Hello, InputKind, Invalid, Ping, Role


def test_control_round_trips_through_json():
    message = Control(seq=7, t=1.5, axes=(0.25, -1.0), buttons=(1, 0), hats=((0, 1),))
    assert protocol.parse_client_message(protocol.encode(message)) == message


def test_a_control_goes_out_with_its_fields_in_order_and_without_what_it_was_only_received_with():
    sent = Control(
        seq=3, t=1.5, axes=(0.5, -1.0), buttons=(1, 0), hats=((0, 1),), legacy=True, layout=Layout.STANDARD, input=InputKind.GAMEPAD
    )
    assert protocol.encode(sent) == (
        '{"type":"control","seq":3,"t":1.5,"axes":[0.5,-1.0],"buttons":[1,0],"hats":[[0,1]],"layout":"standard","input":"gamepad"}'
    )
    assert protocol.encode(Control(seq=4, t=2.0, axes=(0.0,))) == '{"type":"control","seq":4,"t":2.0,"axes":[0.0],"buttons":[],"hats":[]}'
    assert protocol.parse_client_message(protocol.encode(sent)) == Control(
        seq=3, t=1.5, axes=(0.5, -1.0), buttons=(1, 0), hats=((0, 1),), layout=Layout.STANDARD, input=InputKind.GAMEPAD
    )


@given(
    seq=st.integers(0, 2**53),
    t=st.floats(0, 1e10),
    axes=st.lists(st.floats(-1, 1), max_size=protocol.MAX_AXES),
    buttons=st.lists(st.integers(0, 1) | st.booleans(), max_size=protocol.MAX_BUTTONS),
    hats=st.lists(st.tuples(st.integers(-1, 1), st.integers(-1, 1)), max_size=protocol.MAX_HATS),
    layout=st.sampled_from(Layout),
    kind=st.none() | st.sampled_from(InputKind),
)
def test_any_control_the_app_sends_is_read_back_by_the_server_as_it_was_sent(seq, t, axes, buttons, hats, layout, kind):
    sent = Control(seq=seq, t=t, axes=tuple(axes), buttons=tuple(buttons), hats=tuple(hats), layout=layout, input=kind)
    assert protocol.parse_client_message(protocol.encode(sent)) == Control(
        seq=seq, t=t, axes=tuple(axes), buttons=tuple(map(int, buttons)), hats=tuple(hats), layout=layout, input=kind
    )


def test_a_control_with_a_number_json_cannot_carry_is_refused_before_it_is_sent():
    for bad in (Control(t=math.nan), Control(axes=(0.5, math.inf)), Control(axes=(-math.inf,))):
        try:
            protocol.encode(bad)
        except ValueError:
            continue
        raise AssertionError(f"encoded {bad}")


def test_hello_defaults_to_observer_and_current_protocol():
    hello = protocol.parse_client_message('{"type": "hello"}')
    assert hello == Hello(role=Role.OBSERVER, protocol=protocol.PROTOCOL_VERSION)


def test_seed_bare_axes_object_is_a_legacy_control():
    message = protocol.parse_client_message(json.dumps({"Axes": [0.5, -0.25, 0.0, 1.0]}))
    assert isinstance(message, Control)
    assert message.legacy and message.axes == (0.5, -0.25, 0.0, 1.0)


def test_axis_out_of_range_is_named_in_the_error():
    result = protocol.parse_client_message('{"type": "control", "axes": [0, 1.5]}')
    assert isinstance(result, Invalid)
    assert result.code is ErrorCode.INVALID_MESSAGE
    assert "axes[1]" in result.message and "1.5" in result.message


def test_nan_and_infinity_are_rejected():
    for text in ('{"type":"control","axes":[NaN]}', '{"type":"control","axes":[Infinity]}', '{"type":"control","axes":[1e999]}'):
        result = protocol.parse_client_message(text)
        assert isinstance(result, Invalid), text


def test_booleans_are_not_numbers():
    assert isinstance(protocol.parse_client_message('{"type":"control","axes":[true]}'), Invalid)


def test_unknown_type_lists_the_known_ones():
    result = protocol.parse_client_message('{"type": "fly"}')
    assert isinstance(result, Invalid) and result.code is ErrorCode.UNKNOWN_TYPE
    assert "control" in result.message


def test_binary_frames_and_oversized_text_are_refused():
    assert protocol.parse_client_message(b"\x00\x01").code is ErrorCode.BINARY_NOT_SUPPORTED
    big = json.dumps({"type": "ping", "pad": "x" * 5000})
    assert protocol.parse_client_message(big).code is ErrorCode.TOO_LARGE


def test_huge_integers_and_deep_nesting_do_not_raise():
    assert isinstance(protocol.parse_client_message('{"type":"ping","id":' + "9" * 4000 + "}"), Invalid)
    too_big_for_a_float = "9" * 400
    for text in (
        f'{{"type":"control","axes":[{too_big_for_a_float}]}}',
        f'{{"Axes":[-{too_big_for_a_float}]}}',
        f'{{"type":"ping","t":{too_big_for_a_float}}}',
    ):
        result = protocol.parse_client_message(text)
        assert isinstance(result, Invalid) and "too large" in result.message
    assert isinstance(protocol.parse_client_message("[" * 3000 + "]" * 3000), Invalid)


def test_too_many_axes_is_refused():
    result = protocol.parse_client_message(json.dumps({"type": "control", "axes": [0] * 33}))
    assert isinstance(result, Invalid) and "at most 32" in result.message


def test_ping_parses():
    assert protocol.parse_client_message('{"type":"ping","id":3,"t":2.5}') == Ping(3, 2.5)


def test_encode_never_emits_nan():
    encoded = protocol.encode(protocol.Reading(t=1.0, values={"A0": 1}))
    assert json.loads(encoded) == {"type": "reading", "t": 1.0, "values": {"A0": 1}, "seq": 0}


json_values = st.recursive(
    # integers past float range too: a 400-digit number is valid JSON (the bad-input storm found that one)
    st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@given(st.text(max_size=300))
def test_parsing_arbitrary_text_never_raises(text):
    protocol.parse_client_message(text)
    protocol.parse_server_message(text)


@given(
    st.dictionaries(
        st.sampled_from(["type", "axes", "buttons", "hats", "seq", "t", "role", "Axes", "id", "token"]), json_values, max_size=6
    )
)
def test_parsing_arbitrary_objects_never_raises_and_controls_are_sane(obj):
    if isinstance(obj.get("type"), str) or "type" not in obj:
        obj.setdefault("type", "control")
    try:
        text = json.dumps(obj)
    except ValueError:
        return
    result = protocol.parse_client_message(text)
    if isinstance(result, Control):
        assert all(math.isfinite(a) and -1 <= a <= 1 for a in result.axes)
        assert all(b in (0, 1) for b in result.buttons)


def test_a_status_without_camera_stays_as_older_clients_know_it_and_one_with_a_camera_round_trips():
    plain = protocol.Status(serial={}, pilot=None, failsafe=False, estop=False, clients=1)
    assert "camera" not in protocol.to_dict(plain)
    camera = {"state": "live", "path": "/video.mjpg", "detail": "sim camera, 640x480 at 30 fps"}
    with_camera = protocol.Status(serial={}, pilot=None, failsafe=False, estop=False, clients=1, camera=camera)
    assert protocol.parse_server_message(protocol.encode(with_camera)) == with_camera
    odd = protocol.parse_server_message('{"type":"status","camera":"yes"}')
    assert isinstance(odd, protocol.Status) and odd.camera is None


def test_the_input_kind_travels_in_hello_and_control_and_a_bad_one_is_named():
    from teleop.wire.protocol import Control, Hello, InputKind, Invalid, encode, parse_client_message

    hello = parse_client_message('{"type":"hello","role":"pilot","input":"touch"}')
    assert isinstance(hello, Hello) and hello.input is InputKind.TOUCH
    control = parse_client_message('{"type":"control","axes":[0.5],"input":"keyboard"}')
    assert isinstance(control, Control) and control.input is InputKind.KEYBOARD
    assert parse_client_message(encode(control)) == control
    assert '"input"' not in encode(Control(axes=(0.5,))), "an unsaid input kind stays off the wire"
    bad = parse_client_message('{"type":"control","axes":[0.5],"input":"telepathy"}')
    assert isinstance(bad, Invalid) and "input must be one of gamepad, touch, keyboard" in bad.message


def test_hello_says_which_streams_to_skip_and_a_name_this_side_does_not_know_is_passed_over():
    """A newer client may name streams this server cannot skip: its hello (token, role) must still count."""
    from teleop.wire.protocol import Hello, Invalid, MessageType, encode, parse_client_message

    hello = Hello(role=Role.PILOT, skip=(MessageType.OUTPUTS,))
    assert '"skip":["outputs"]' in encode(hello)
    assert parse_client_message(encode(hello)) == hello
    assert '"skip"' not in encode(Hello()), "a client that skips nothing says nothing of it"
    newer = parse_client_message('{"type":"hello","role":"pilot","token":"t","skip":["reading","frames","status","reading"]}')
    assert newer == Hello(role=Role.PILOT, token="t", skip=(MessageType.READING,))
    for skip, why in (('"outputs"', "skip must be a list"), ("[3]", "skip[0] must be a string")):
        bad = parse_client_message(f'{{"type":"hello","skip":{skip}}}')
        assert isinstance(bad, Invalid) and why in bad.message, bad
