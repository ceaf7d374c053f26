from corpus_registry.cli import main

main()
