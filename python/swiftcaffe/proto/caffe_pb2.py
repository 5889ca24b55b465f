"""The few Caffe messages scripts make in Python: BlobShape, BlobProto, BlobProtoVector and
Datum, with the protobuf wire format (`SerializeToString`, `ParseFromString`), and
NetParameter / LayerParameter as `caffe.NetSpec` builds them, printed in the text format a
prototxt uses. Field numbers are those of Caffe's caffe.proto. Written here so that the
package needs no protobuf compiler or runtime."""
import struct


class Enum(str):
    """An enum value: printed bare (`pool: MAX`) in the text format."""


class Message:
    """A message: fields set as attributes. `FIELDS` maps a name to (number, kind, repeated,
    message class); kinds are the protobuf scalar types, 'message' and 'enum'. A message with
    `OPEN` set takes any other field too (a layer's `convolution_param { ... }`), for text."""

    FIELDS = {}
    OPEN = False

    def __init__(self, **values):
        object.__setattr__(self, "_values", {})
        for name, value in values.items():
            setattr(self, name, value)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._values
        if name not in values:
            field = self.FIELDS.get(name)
            if field is None and not self.OPEN:
                raise AttributeError("%s has no field '%s'" % (type(self).__name__, name))
            if field and field[2]:
                values[name] = []
            elif field and field[1] == "message":
                values[name] = field[3]()
            elif field:
                return {"string": "", "bytes": b"", "bool": False, "float": 0.0, "double": 0.0}.get(field[1], 0)
            else:
                raise AttributeError(name)
        return values[name]

    def __setattr__(self, name, value):
        if name not in self.FIELDS and not self.OPEN:
            raise AttributeError("%s has no field '%s'" % (type(self).__name__, name))
        self._values[name] = value

    def HasField(self, name):
        value = self._values.get(name)
        return value is not None and not isinstance(value, list)

    def ClearField(self, name):
        self._values.pop(name, None)

    # ---- wire format -------------------------------------------------------------------

    def SerializeToString(self):
        out = bytearray()
        for name, (number, kind, repeated, cls) in sorted(self.FIELDS.items(), key=lambda item: item[1][0]):
            if name not in self._values:
                continue
            value = self._values[name]
            if repeated:
                if kind in ("float", "double", "int32", "int64", "bool") and value:
                    body = bytearray()
                    for item in value:
                        body += _scalar(kind, item)
                    out += _key(number, 2) + _varint(len(body)) + body
                elif kind == "message":
                    for item in value:
                        body = item.SerializeToString()
                        out += _key(number, 2) + _varint(len(body)) + body
                continue
            if kind == "message":
                body = value.SerializeToString()
                out += _key(number, 2) + _varint(len(body)) + body
            elif kind in ("bytes", "string"):
                body = value.encode() if isinstance(value, str) else bytes(value)
                out += _key(number, 2) + _varint(len(body)) + body
            else:
                out += _key(number, 5 if kind == "float" else 1 if kind == "double" else 0) + _scalar(kind, value)
        return bytes(out)

    def ParseFromString(self, data):
        object.__setattr__(self, "_values", {})
        by_number = {field[0]: (name,) + field for name, field in self.FIELDS.items()}
        position, data = 0, bytes(data)
        while position < len(data):
            key, position = _read_varint(data, position)
            number, wire = key >> 3, key & 7
            if wire == 0:
                raw, position = _read_varint(data, position)
            elif wire == 1:
                raw, position = data[position:position + 8], position + 8
            elif wire == 5:
                raw, position = data[position:position + 4], position + 4
            elif wire == 2:
                length, position = _read_varint(data, position)
                raw, position = data[position:position + length], position + length
            else:
                raise ValueError("the message uses wire type %d, which Caffe's messages do not" % wire)
            if number not in by_number:
                continue
            name, _, kind, repeated, cls = by_number[number]
            if kind == "message":
                item = cls()
                item.ParseFromString(raw)
                if repeated:
                    getattr(self, name).append(item)
                else:
                    self._values[name] = item
            elif kind in ("bytes", "string"):
                self._values[name] = raw.decode() if kind == "string" else bytes(raw)
            elif repeated and wire == 2:
                getattr(self, name).extend(_unpack(kind, raw))
            else:
                value = _unpack(kind, raw)[0] if wire != 0 else _signed(kind, raw)
                if repeated:
                    getattr(self, name).append(value)
                else:
                    self._values[name] = value
        return len(data)

    @classmethod
    def FromString(cls, data):
        message = cls()
        message.ParseFromString(data)
        return message

    # ---- text format -------------------------------------------------------------------

    def __str__(self):
        return "".join(_text_lines(self, 0))

    def __eq__(self, other):
        return type(self) is type(other) and self._values == other._values


def _key(number, wire):
    return _varint((number << 3) | wire)


def _varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data, position):
    result, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("the message ends inside a number")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, position


def _scalar(kind, value):
    if kind == "float":
        return struct.pack("<f", value)
    if kind == "double":
        return struct.pack("<d", value)
    return _varint(int(value))


def _signed(kind, raw):
    if kind in ("int32", "int64") and raw >= 1 << 63:
        return raw - (1 << 64)
    return bool(raw) if kind == "bool" else raw


def _unpack(kind, raw):
    if kind == "float":
        return list(struct.unpack("<%df" % (len(raw) // 4), raw))
    if kind == "double":
        return list(struct.unpack("<%dd" % (len(raw) // 8), raw))
    values, position = [], 0
    while position < len(raw):
        value, position = _read_varint(raw, position)
        values.append(_signed(kind, value))
    return values


def _text_value(value):
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, bytes):
        return '"%s"' % "".join("\\%03o" % b for b in value)
    return repr(value) if isinstance(value, float) else str(value)


def _text_lines(message, depth):
    indent = "  " * depth
    for name, value in message._values.items():
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, Message):
                yield "%s%s {\n" % (indent, name)
                for line in _text_lines(item, depth + 1):
                    yield line
                yield "%s}\n" % indent
            else:
                yield "%s%s: %s\n" % (indent, name, _text_value(item))


class BlobShape(Message):
    FIELDS = {"dim": (1, "int64", True, None)}


class BlobProto(Message):
    FIELDS = {
        "shape": (7, "message", False, BlobShape), "data": (5, "float", True, None), "diff": (6, "float", True, None),
        "double_data": (8, "double", True, None), "double_diff": (9, "double", True, None),
        "num": (1, "int32", False, None), "channels": (2, "int32", False, None),
        "height": (3, "int32", False, None), "width": (4, "int32", False, None),
    }


class BlobProtoVector(Message):
    FIELDS = {"blobs": (1, "message", True, BlobProto)}


class Datum(Message):
    FIELDS = {
        "channels": (1, "int32", False, None), "height": (2, "int32", False, None), "width": (3, "int32", False, None),
        "data": (4, "bytes", False, None), "label": (5, "int32", False, None), "float_data": (6, "float", True, None),
        "encoded": (7, "bool", False, None),
    }


class LayerParameter(Message):
    """A layer as `NetSpec` writes it: name, type, bottoms, tops, and any `*_param`."""
    FIELDS = {"name": (1, "string", False, None), "type": (2, "string", False, None),
              "bottom": (3, "string", True, None), "top": (4, "string", True, None)}
    OPEN = True


class NetParameter(Message):
    FIELDS = {"name": (1, "string", False, None), "layer": (100, "message", True, LayerParameter)}
    OPEN = True


class Parameter(Message):
    """Any nested message of a layer (`convolution_param`, `weight_filler`, `shape`, ...)."""
    OPEN = True
