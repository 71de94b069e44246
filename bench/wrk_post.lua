-- wrk script for bench/http.sh: every request is a POST of the file named by $WRK_BODY with
-- Content-Type: application/json (wrk sends the path of the URL given on its command line); WRK_METHOD=GET sends a
-- plain GET instead (no body).
-- At the end it prints one line, "WRK_RESULT {json}", with exact figures: wrk's own --latency table rounds to two
-- decimals and mixes units. Latencies are in microseconds, as wrk records them (no coordinated-omission correction).
if (os.getenv("WRK_METHOD") or "POST") == "GET" then
    wrk.method = "GET"
else
    local name = os.getenv("WRK_BODY")
    assert(name and name ~= "", "set WRK_BODY to the file holding the request body")
    local f = assert(io.open(name, "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
        '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
        latency.max, latency.mean))
end
