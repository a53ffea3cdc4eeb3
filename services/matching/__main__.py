from services.matching.entrypoints.app import main

main()
