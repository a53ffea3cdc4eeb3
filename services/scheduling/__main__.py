from services.scheduling.entrypoints.app import main

main()
