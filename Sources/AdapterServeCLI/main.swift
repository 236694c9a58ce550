print("adapter-serve")
