from lanecap.cli import main

main()
