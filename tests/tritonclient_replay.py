#!/usr/bin/python3
"""tritonclient_replay.py - what tritonclient.http (Triton's Python client,
the most used Open Inference Protocol client) puts on the wire, and how it
reads the answer, re-done from the client's source so that the test needs no
tritonclient install (pip has no network here):

  request   tritonclient/http/_infer_input.py      InferInput.set_data_from_numpy
                                                   (binary_data=True by default),
                                                   _get_tensor, _get_binary_data
            tritonclient/http/_requested_output.py InferRequestedOutput
                                                   (binary_data=True by default)
            tritonclient/http/_utils.py            _get_inference_request: the JSON
                                                   (rapidjson.dumps, compact), then
                                                   each input's raw bytes; no outputs
                                                   -> parameters.binary_data_output
            tritonclient/http/_client.py           InferenceServerClient.infer: the
                                                   Content-Encoding / Accept-Encoding /
                                                   Inference-Header-Content-Length
                                                   headers, in that order
            tritonclient/utils/__init__.py         serialize_byte_tensor (4-byte LE
                                                   length + bytes per element)
            geventhttpclient client.py             HTTPClient._build_request: User-Agent,
                                                   the caller's headers, Host,
                                                   Content-Length; no Content-Type
  response  tritonclient/http/_infer_result.py     InferResult.__init__ (gzip/deflate
                                                   Content-Encoding, the
                                                   Inference-Header-Content-Length
                                                   split, binary_data_size offsets),
                                                   as_numpy
            tritonclient/http/_utils.py            _get_error / _raise_if_error
            tritonclient/utils/__init__.py         deserialize_bytes_tensor,
                                                   triton_to_np_dtype

Used by tests/e2e_clients.sh:  tritonclient_replay.py PORT CASES_DIR
(CASES_DIR holds the inputs the shell test made; see main()). Prints
"ok NAME" or "FAIL NAME: why" per case and exits 1 on any failure.
"""
import gzip
import http.client
import json
import struct
import sys
import zlib
from urllib.parse import quote

import numpy as np

try:   # what tritonclient uses; Debian: python3-rapidjson
    import rapidjson

    def dumps(obj):
        return rapidjson.dumps(obj)
except ImportError:   # the same bytes for these requests (ASCII, compact)
    def dumps(obj):
        return json.dumps(obj, separators=(",", ":"))

USER_AGENT = "python/gevent-http-client-2.0.11"   # geventhttpclient's DEFAULT_HEADERS


# ---- tritonclient.utils ---------------------------------------------------

def np_to_triton_dtype(np_dtype):
    for dt, name in ((bool, "BOOL"), (np.int8, "INT8"), (np.int16, "INT16"), (np.int32, "INT32"),
                     (np.int64, "INT64"), (np.uint8, "UINT8"), (np.uint16, "UINT16"),
                     (np.uint32, "UINT32"), (np.uint64, "UINT64"), (np.float16, "FP16"),
                     (np.float32, "FP32"), (np.float64, "FP64")):
        if np_dtype == dt:
            return name
    if np_dtype == np.object_ or np_dtype.type == np.bytes_:
        return "BYTES"
    return None


def triton_to_np_dtype(dtype):
    return {"BOOL": bool, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
            "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
            "UINT64": np.uint64, "FP16": np.float16, "FP32": np.float32, "BF16": np.float32,
            "FP64": np.float64, "BYTES": np.object_}.get(dtype)


def serialize_byte_tensor(input_tensor):
    if input_tensor.size == 0:
        return np.empty([0], dtype=np.object_)
    flattened_ls = []
    for obj in np.nditer(input_tensor, flags=["refs_ok"], order="C"):
        if input_tensor.dtype == np.object_:
            s = obj.item() if type(obj.item()) == bytes else str(obj.item()).encode("utf-8")
        else:
            s = obj.item()
        flattened_ls.append(struct.pack("<I", len(s)))
        flattened_ls.append(s)
    return np.asarray(b"".join(flattened_ls), dtype=np.object_)


def deserialize_bytes_tensor(encoded_tensor):
    strs = []
    offset = 0
    val_buf = encoded_tensor
    while offset < len(val_buf):
        length = struct.unpack_from("<I", val_buf, offset)[0]
        offset += 4
        sb = struct.unpack_from("<{}s".format(length), val_buf, offset)[0]
        offset += length
        strs.append(sb)
    return np.array(strs, dtype=np.object_)


# ---- tritonclient.http: requests ------------------------------------------

class InferInput:
    def __init__(self, name, shape, datatype):
        self._name, self._shape, self._datatype = name, shape, datatype
        self._parameters, self._data, self._raw_data = {}, None, None

    def set_data_from_numpy(self, input_tensor, binary_data=True):
        assert np_to_triton_dtype(input_tensor.dtype) == self._datatype
        assert list(input_tensor.shape) == list(self._shape)
        if not binary_data:
            self._parameters.pop("binary_data_size", None)
            self._raw_data = None
            if self._datatype == "BYTES":
                self._data = []
                for obj in np.nditer(input_tensor, flags=["refs_ok"], order="C"):
                    if input_tensor.dtype == np.object_:
                        if type(obj.item()) == bytes:
                            self._data.append(str(obj.item(), encoding="utf-8"))
                        else:
                            self._data.append(str(obj.item()))
                    else:
                        self._data.append(str(obj.item(), encoding="utf-8"))
            else:
                self._data = [val.item() for val in input_tensor.flatten()]
        else:
            self._data = None
            if self._datatype == "BYTES":
                serialized = serialize_byte_tensor(input_tensor)
                self._raw_data = serialized.item() if serialized.size > 0 else b""
            else:
                self._raw_data = input_tensor.tobytes()
            self._parameters["binary_data_size"] = len(self._raw_data)

    def _get_binary_data(self):
        return self._raw_data

    def _get_tensor(self):
        tensor = {"name": self._name, "shape": self._shape, "datatype": self._datatype}
        if self._parameters:
            tensor["parameters"] = self._parameters
        if self._parameters.get("shared_memory_region") is None and self._raw_data is None:
            if self._data is not None:
                tensor["data"] = self._data
        return tensor


class InferRequestedOutput:
    def __init__(self, name, binary_data=True, class_count=0):
        self._name = name
        self._parameters = {}
        if class_count != 0:
            self._parameters["classification"] = class_count
        self._binary = binary_data
        self._parameters["binary_data"] = binary_data

    def _get_tensor(self):
        tensor = {"name": self._name}
        if self._parameters:
            tensor["parameters"] = self._parameters
        return tensor


def _get_inference_request(inputs, request_id, outputs, custom_parameters=None):
    infer_request = {}
    parameters = {}
    if request_id != "":
        infer_request["id"] = request_id
    infer_request["inputs"] = [this_input._get_tensor() for this_input in inputs]
    if outputs:
        infer_request["outputs"] = [this_output._get_tensor() for this_output in outputs]
    else:
        parameters["binary_data_output"] = True
    if custom_parameters:
        for key, value in custom_parameters.items():
            parameters[key] = value
    if parameters:
        infer_request["parameters"] = parameters
    request_json = dumps(infer_request)
    json_size = len(request_json)
    request_body = [request_json.encode()]
    for input_tensor in inputs:
        raw_data = input_tensor._get_binary_data()
        if raw_data is not None:
            request_body.append(raw_data)
    if len(request_body) == 1:
        return request_body[0], None
    return b"".join(request_body), json_size


def build_infer(model_name, inputs, outputs=None, request_id="", model_version="",
                request_compression_algorithm=None, response_compression_algorithm=None,
                parameters=None):
    """InferenceServerClient.infer up to the POST: (uri, headers list, body)."""
    request_body, json_size = _get_inference_request(inputs, request_id, outputs, parameters)
    headers = None
    if request_compression_algorithm == "gzip":
        headers = headers or {}
        headers["Content-Encoding"] = "gzip"
        request_body = gzip.compress(request_body)
    elif request_compression_algorithm == "deflate":
        headers = headers or {}
        headers["Content-Encoding"] = "deflate"
        request_body = zlib.compress(request_body)
    if response_compression_algorithm == "gzip":
        headers = headers or {}
        headers["Accept-Encoding"] = "gzip"
    elif response_compression_algorithm == "deflate":
        headers = headers or {}
        headers["Accept-Encoding"] = "deflate"
    if json_size is not None:
        headers = headers or {}
        headers["Inference-Header-Content-Length"] = json_size
    if model_version != "":
        uri = "/v2/models/{}/versions/{}/infer".format(quote(model_name), model_version)
    else:
        uri = "/v2/models/{}/infer".format(quote(model_name))
    return uri, list((headers or {}).items()), request_body


def post(port, uri, headers, body):
    """geventhttpclient's bytes: User-Agent, the caller's headers, Host,
    Content-Length, through http.client with its own headers turned off."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.putrequest("POST", uri, skip_host=True, skip_accept_encoding=True)
    c.putheader("User-Agent", USER_AGENT)
    for k, v in headers:
        c.putheader(k, str(v))
    c.putheader("Host", "127.0.0.1:%d" % port)
    c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


# ---- tritonclient.http: responses -----------------------------------------

class InferenceServerException(Exception):
    pass


def raise_if_error(status, body):
    if status != 200:
        error_response = json.loads(body) if len(body) else {
            "error": "client received an empty response from the server."}
        raise InferenceServerException("[%d] %s" % (status, error_response["error"]))


class InferResult:
    def __init__(self, headers, body):
        header_length = headers.get("inference-header-content-length")
        content_encoding = headers.get("content-encoding")
        if content_encoding == "gzip":
            body = gzip.decompress(body)
        elif content_encoding == "deflate":
            body = zlib.decompress(body)
        if header_length is None:
            self._result = json.loads(body)
        else:
            header_length = int(header_length)
            self._result = json.loads(body[:header_length])
            self._output_name_to_buffer_map = {}
            self._buffer = body[header_length:]
            buffer_index = 0
            for output in self._result["outputs"]:
                parameters = output.get("parameters")
                if parameters is not None:
                    this_data_size = parameters.get("binary_data_size")
                    if this_data_size is not None:
                        self._output_name_to_buffer_map[output["name"]] = buffer_index
                        buffer_index = buffer_index + this_data_size

    def as_numpy(self, name):
        for output in self._result.get("outputs") or []:
            if output["name"] != name:
                continue
            datatype = output["datatype"]
            has_binary_data = False
            parameters = output.get("parameters")
            if parameters is not None:
                this_data_size = parameters.get("binary_data_size")
                if this_data_size is not None:
                    has_binary_data = True
                    if this_data_size != 0:
                        start_index = self._output_name_to_buffer_map[name]
                        end_index = start_index + this_data_size
                        if datatype == "BYTES":
                            np_array = deserialize_bytes_tensor(self._buffer[start_index:end_index])
                        else:
                            np_array = np.frombuffer(self._buffer[start_index:end_index],
                                                     dtype=triton_to_np_dtype(datatype))
                    else:
                        np_array = np.empty(0, dtype=triton_to_np_dtype(datatype))
            if not has_binary_data:
                np_array = np.array(output["data"], dtype=triton_to_np_dtype(datatype))
            return np_array.reshape(output["shape"])
        return None

    def get_response(self):
        return self._result


def infer(port, model_name, inputs, **kw):
    uri, headers, body = build_infer(model_name, inputs, **kw)
    status, rh, data = post(port, uri, headers, body)
    raise_if_error(status, data)
    return InferResult(rh, data), rh, body


# ---- the cases --------------------------------------------------------------

FAILS = 0


def case(name, fn):
    global FAILS
    try:
        fn()
        print("ok", name)
    except Exception as e:   # a failed expectation or a client-side parse error
        FAILS += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    port = int(sys.argv[1])
    cases = sys.argv[2]
    iris = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)

    def fp32_default():
        inp = InferInput("INPUT0", [2, 4], "FP32")
        inp.set_data_from_numpy(iris)
        uri, headers, body = build_infer("iris", [inp])
        # The bytes the client's source builds for this call, spelled out:
        want = (b'{"inputs":[{"name":"INPUT0","shape":[2,4],"datatype":"FP32",'
                b'"parameters":{"binary_data_size":32}}],"parameters":{"binary_data_output":true}}')
        expect(body[:len(want)] == want and body[len(want):] == iris.tobytes(), "request bytes %r" % body[:200])
        expect(headers == [("Inference-Header-Content-Length", len(want))], "headers %r" % headers)
        res, rh, _ = infer(port, "iris", [inp])
        expect("inference-header-content-length" in rh, "no Inference-Header-Content-Length in %r" % rh)
        label, prob = res.as_numpy("label"), res.as_numpy("probabilities")
        expect(list(label) == [b"setosa", b"virginica"], "labels %r" % label)
        expect(prob.dtype == np.float32 and prob.shape == (2, 3), "probabilities %r" % prob)
        expect(np.allclose(prob.sum(axis=1), 1, atol=1e-5), "rows sum to %r" % prob.sum(axis=1))
        # The same call with JSON tensors both ways gives the same numbers.
        j = InferInput("INPUT0", [2, 4], "FP32")
        j.set_data_from_numpy(iris, binary_data=False)
        res2, rh2, body2 = infer(port, "iris", [j], outputs=[
            InferRequestedOutput("label", binary_data=False),
            InferRequestedOutput("probabilities", binary_data=False)])
        expect(b"binary_data" in body2 and "inference-header-content-length" not in rh2, "JSON call %r" % rh2)
        expect(list(res2.as_numpy("label")) == [b"setosa", b"virginica"] or
               list(res2.as_numpy("label")) == ["setosa", "virginica"], "JSON labels")
        expect(np.array_equal(res2.as_numpy("probabilities"), prob), "JSON and binary probabilities differ")

    def int64_and_requested_outputs():
        x = np.array([[5, 3, 1, 0], [7, 3, 6, 2]], dtype=np.int64)
        inp = InferInput("INPUT0", [2, 4], "INT64")
        inp.set_data_from_numpy(x)
        res, rh, body = infer(port, "iris", [inp],
                              outputs=[InferRequestedOutput("probabilities")], request_id="req-7")
        expect(b'"outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]' in body, "body %r" % body[:300])
        r = res.get_response()
        expect(r["id"] == "req-7" and [o["name"] for o in r["outputs"]] == ["probabilities"], "response %r" % r)
        expect(res.as_numpy("label") is None, "label was not asked for")
        prob = res.as_numpy("probabilities")
        ref = InferInput("INPUT0", [2, 4], "FP32")
        ref.set_data_from_numpy(x.astype(np.float32))
        res2, _, _ = infer(port, "iris", [ref], outputs=[InferRequestedOutput("probabilities")])
        expect(np.array_equal(prob, res2.as_numpy("probabilities")), "INT64 and FP32 inputs disagree")
        # One output binary, one JSON.
        res3, rh3, _ = infer(port, "iris", [inp], outputs=[
            InferRequestedOutput("label", binary_data=False), InferRequestedOutput("probabilities")])
        expect("data" in res3.get_response()["outputs"][0], "label should be JSON")
        expect(np.array_equal(res3.as_numpy("probabilities"), prob), "mixed outputs")

    def uint8_images():
        imgs = np.load(cases + "/images.npy")   # [2, 28, 28] uint8: top bright, bottom bright
        inp = InferInput("input", [2, 28, 28], "UINT8")
        inp.set_data_from_numpy(imgs)
        res, _, body = infer(port, "digits", [inp])
        expect(len(body) > 2 * 784, "body too short")
        label, prob = res.as_numpy("label"), res.as_numpy("probabilities")
        # The JSON request that e2e_predict already trusts answers the same.
        j = InferInput("input", [2, 28, 28], "UINT8")
        j.set_data_from_numpy(imgs, binary_data=False)
        res2, _, _ = infer(port, "digits", [j], outputs=[
            InferRequestedOutput("label", binary_data=False),
            InferRequestedOutput("probabilities", binary_data=False)])
        expect([str(v, "utf-8") if isinstance(v, bytes) else v for v in res2.as_numpy("label")] ==
               [str(v, "utf-8") for v in label], "labels %r vs %r" % (label, res2.as_numpy("label")))
        expect(np.allclose(res2.as_numpy("probabilities"), prob, atol=1e-6), "probabilities differ")
        expect(prob.shape[0] == 2 and label.shape == (2,), "shapes %r %r" % (prob.shape, label.shape))

    def bytes_text():
        texts = np.array([["a wonderful moving film"], ["a dull boring mess"]], dtype=np.object_)
        inp = InferInput("TEXT", [2, 1], "BYTES")
        inp.set_data_from_numpy(texts)
        res, _, body = infer(port, "reviews", [inp])
        expect(struct.pack("<I", 23) + b"a wonderful moving film" in body, "BYTES serialisation")
        label = res.as_numpy("label")
        expect(list(label) == [b"pos", b"neg"] or list(label) == [b"1", b"0"], "labels %r" % label)
        j = InferInput("TEXT", [2, 1], "BYTES")
        j.set_data_from_numpy(texts, binary_data=False)
        res2, _, _ = infer(port, "reviews", [j])
        expect(np.array_equal(res2.as_numpy("probabilities"), res.as_numpy("probabilities")), "JSON vs binary text")

    def bytes_recommend():
        users = np.array([b"u1", b"u2"], dtype=np.object_)
        inp = InferInput("user", [2], "BYTES")
        inp.set_data_from_numpy(users)
        res, _, _ = infer(port, "movies", [inp], parameters={"k": 3})
        ids, scores = res.as_numpy("item_ids"), res.as_numpy("scores")
        expect(ids.shape == (2, 3) and scores.shape == (2, 3) and scores.dtype == np.float32, "shapes")
        expect(all(s[0] >= s[1] >= s[2] for s in scores), "scores not descending %r" % scores)
        j = InferInput("user", [2], "BYTES")
        j.set_data_from_numpy(users, binary_data=False)
        res2, _, _ = infer(port, "movies", [j], parameters={"k": 3}, outputs=[
            InferRequestedOutput("item_ids", binary_data=False),
            InferRequestedOutput("scores", binary_data=False)])
        expect([v.encode() for v in res2.as_numpy("item_ids").flatten()] == list(ids.flatten()), "ids differ")

    def compressed():
        inp = InferInput("INPUT0", [2, 4], "FP32")
        inp.set_data_from_numpy(iris)
        for alg in ("gzip", "deflate"):
            res, rh, body = infer(port, "iris", [inp], request_compression_algorithm=alg,
                                  response_compression_algorithm="gzip")
            expect(rh.get("content-encoding") == "gzip", "%s: answer not gzipped: %r" % (alg, rh))
            expect(list(res.as_numpy("label")) == [b"setosa", b"virginica"], "%s labels" % alg)

    def errors():
        inp = InferInput("INPUT0", [2, 4], "FP32")
        inp.set_data_from_numpy(iris)
        uri, headers, body = build_infer("iris", [inp])
        status, _, data = post(port, uri, headers, body[:-4])   # one float short
        try:
            raise_if_error(status, data)
            raise AssertionError("a short body was accepted")
        except InferenceServerException as e:
            expect("[400]" in str(e) and "binary_data_size is 32" in str(e) and "only 28" in str(e), str(e))
        wrong = InferInput("INPUT0", [2, 3], "FP32")
        wrong.set_data_from_numpy(iris[:, :3].copy())
        try:
            infer(port, "iris", [wrong])
            raise AssertionError("a wrong shape was accepted")
        except InferenceServerException as e:
            expect("[400]" in str(e) and "shape" in str(e), str(e))

    which = sys.argv[3:] or ["fp32", "int64", "uint8", "bytes_text", "bytes_reco", "compressed", "errors"]
    table = {"fp32": fp32_default, "int64": int64_and_requested_outputs, "uint8": uint8_images,
             "bytes_text": bytes_text, "bytes_reco": bytes_recommend, "compressed": compressed,
             "errors": errors}
    for name in which:
        case(name, table[name])
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
