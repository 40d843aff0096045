"""autograder: grades students' functions against course_lib with hypothesis property tests."""
