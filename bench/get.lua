-- GET the URL (healthz).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
