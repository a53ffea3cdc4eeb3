from services.notifications.entrypoints.app import main

main()
