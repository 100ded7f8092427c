-- POST one ~1 MiB multipart/form-data body (a single file part) on every request.
-- The body is built once at load time; bench/apps/_data.py:upload_body builds the same
-- bytes for the harness's correctness check, keep the two in step.
local size = tonumber(os.getenv("BENCH_UPLOAD_SIZE") or "1048576")
local boundary = "asgimagicbenchboundary7MA4YWxk"

wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
  .. 'Content-Disposition: form-data; name="file"; filename="blob.bin"\r\n'
  .. "Content-Type: application/octet-stream\r\n"
  .. "\r\n"
  .. string.rep("x", size)
  .. "\r\n--" .. boundary .. "--\r\n"
