-- POST a 4096-byte body to /echo on every request; the app answers it back.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("e", 4096)
