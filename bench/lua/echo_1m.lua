-- POST a 1048576-byte body to /echo on every request; the app answers it back.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("e", 1048576)
