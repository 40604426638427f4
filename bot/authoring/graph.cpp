// placeholder: being written (aula graph)
