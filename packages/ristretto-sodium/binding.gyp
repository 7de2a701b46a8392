{
  "targets": [
    {
      "target_name": "ristretto",
      "sources": ["ristretto.c"],
      "libraries": ["-lsodium"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
