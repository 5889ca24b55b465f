"""Caffe's protobuf messages, as far as Python scripts build them (`caffe.proto.caffe_pb2`)."""
from . import caffe_pb2  # noqa: F401
