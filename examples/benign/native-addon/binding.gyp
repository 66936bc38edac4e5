{
  "targets": [
    {
      "target_name": "tiny",
      "sources": ["src/tiny.c"]
    }
  ]
}
