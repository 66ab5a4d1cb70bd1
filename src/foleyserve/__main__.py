from foleyserve.cli import main

main()
