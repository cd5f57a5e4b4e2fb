-- GET the URL (/bench/bare, /healthz).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
