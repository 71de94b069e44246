#!/usr/bin/python3
"""Writes the seed corpus of fuzz_infer_decode: valid and near-valid v1 and v2 requests.
Usage: /usr/bin/python3 tests/fuzz/make_seeds.py STUBS_DIR OUT_DIR  (STUBS_DIR: protoc --python_out of proto/)."""
import struct, sys
sys.path.insert(0, sys.argv[1])
from junction.v1 import broker_pb2, contract_pb2, tensor_pb2
from inference import grpc_service_pb2 as v2

out = sys.argv[2]
def put(name, proto_byte, msg):
    with open(f"{out}/{name}", "wb") as f:
        f.write(bytes([proto_byte]) + msg.SerializeToString())

t = tensor_pb2.Tensor(datatype=tensor_pb2.FP32, shape=[1, 4], raw=struct.pack("<4f", 1, 2, 3, 4))
put("v1_identity", 0, broker_pb2.InferRequest(model="identity", id="a", inputs=[contract_pb2.Value(name="input", tensor=t)]))
put("v1_stream_identity", 2, broker_pb2.InferRequest(model="identity", id="s", outputs=["output"], inputs=[contract_pb2.Value(name="input", tensor=t)]))
put("v1_text", 0, broker_pb2.InferRequest(model="identity", inputs=[contract_pb2.Value(name="input", text=contract_pb2.Text(text="héllo"))]))
put("v1_embedding", 0, broker_pb2.InferRequest(model="identity", inputs=[contract_pb2.Value(name="input", embedding=contract_pb2.Embedding(values=[1, 2]))]))
put("v1_bytes", 0, broker_pb2.InferRequest(model="identity", inputs=[contract_pb2.Value(name="input", tensor=tensor_pb2.Tensor(datatype=tensor_pb2.BYTES, shape=[2], strings=[b"a", b"bc"]))]))
put("v1_params", 0, broker_pb2.InferRequest(model="burn", parameters={"burn_ms": contract_pb2.Parameter(int64_value=0), "burn_mode": contract_pb2.Parameter(string_value="sleep")}, inputs=[contract_pb2.Value(name="input", tensor=t)]))
put("v1_bad_size", 0, broker_pb2.InferRequest(model="identity", inputs=[contract_pb2.Value(name="input", tensor=tensor_pb2.Tensor(datatype=tensor_pb2.FP32, shape=[2, 3], raw=b"\0" * 20))]))
put("v1_unknown", 0, broker_pb2.InferRequest(model="nope"))
i = v2.ModelInferRequest.InferInputTensor
put("v2_raw", 1, v2.ModelInferRequest(model_name="identity", id="r", inputs=[i(name="input", datatype="FP32", shape=[1, 2])], raw_input_contents=[struct.pack("<2f", 5, 6)]))
put("v2_stream_raw", 3, v2.ModelInferRequest(model_name="identity", id="r", inputs=[i(name="input", datatype="FP32", shape=[1, 2])], raw_input_contents=[struct.pack("<2f", 5, 6)]))
put("v2_typed", 1, v2.ModelInferRequest(model_name="identity", inputs=[i(name="input", datatype="FP32", shape=[1, 2], contents=v2.InferTensorContents(fp32_contents=[7, 8]))]))
put("v2_int8", 1, v2.ModelInferRequest(model_name="identity", inputs=[i(name="input", datatype="INT8", shape=[1, 2], contents=v2.InferTensorContents(int_contents=[7, 300]))]))
put("v2_bytes", 1, v2.ModelInferRequest(model_name="identity", inputs=[i(name="input", datatype="BYTES", shape=[1], contents=v2.InferTensorContents(bytes_contents=[b"x"]))]))
put("v2_params", 1, v2.ModelInferRequest(model_name="burn", parameters={"burn_ms": v2.InferParameter(double_param=0.0)}, inputs=[i(name="input", datatype="FP32", shape=[1, 1])], raw_input_contents=[b"\0" * 4]))
put("v2_raw_count", 1, v2.ModelInferRequest(model_name="identity", inputs=[i(name="input", datatype="FP32", shape=[1, 1]), i(name="x", datatype="FP32", shape=[1])], raw_input_contents=[b"\0" * 4]))
with open(f"{out}/garbage", "wb") as f:
    f.write(b"\x00\xff\xff\xff\xff\x0f\x12\x05hello")
