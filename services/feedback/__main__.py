from services.feedback.entrypoints.app import main

main()
