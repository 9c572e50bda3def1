from ght.cli import main

main()
