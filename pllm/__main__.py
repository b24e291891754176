from pllm.cli import main

main()
